#!/bin/bash
# First boot of the controller instance: Docker, the deploy and identity scripts, a boot-time unit that
# (re)fetches the certificate and its key into tmpfs and starts the container, and a timer that picks up
# a rotated certificate. Values come from the ec2 stack.
set -euo pipefail

dnf install -y docker jq openssl
systemctl enable --now docker

install -d -m 0755 /etc/controller
cat >/etc/controller/deploy.env <<'ENV'
AWS_REGION=@@AWS_REGION@@
REPOSITORY_URL=@@REPOSITORY_URL@@
SECRET_ID=@@SECRET_ID@@
IDENTITY_PARAMETER=@@IDENTITY_PARAMETER@@
LOG_GROUP=@@LOG_GROUP@@
CONTAINER_NAME=controller
INITIAL_IMAGE_TAG=@@INITIAL_IMAGE_TAG@@
ENV

base64 -d >/usr/local/bin/deploy-controller <<'SCRIPT'
@@DEPLOY_SCRIPT_BASE64@@
SCRIPT
chmod 0755 /usr/local/bin/deploy-controller
base64 -d >/usr/local/bin/controller-identity <<'SCRIPT'
@@IDENTITY_SCRIPT_BASE64@@
SCRIPT
chmod 0755 /usr/local/bin/controller-identity
base64 -d >/usr/local/bin/controller-health <<'SCRIPT'
@@HEALTH_SCRIPT_BASE64@@
SCRIPT
chmod 0755 /usr/local/bin/controller-health
cat >/etc/controller/health.env <<'ENV'
METRIC_DIMENSION_VALUE=@@HEALTH_METRIC_DIMENSION_VALUE@@
METRIC_NAMESPACE=@@HEALTH_METRIC_NAMESPACE@@
METRIC_NAME=@@HEALTH_METRIC_NAME@@
METRIC_DIMENSION=@@HEALTH_METRIC_DIMENSION@@
ENV

# On every boot: /run is empty again, so fetch the certificate and key and restart the container. Until
# the iot stack has published the certificate (it is deployed after this one) and a key matches it,
# retry every minute.
cat >/etc/systemd/system/controller-deploy.service <<'UNIT'
[Unit]
Description=Deploy the smart-home controller container
After=docker.service network-online.target
Wants=network-online.target
Requires=docker.service

[Service]
Type=oneshot
ExecStart=/usr/local/bin/deploy-controller
Restart=on-failure
RestartSec=60

[Install]
WantedBy=multi-user.target
UNIT
# After a certificate rotation is applied, switch to the new certificate and its (pending) key within
# minutes: the old certificate is revoked by the same apply.
cat >/etc/systemd/system/controller-identity-refresh.service <<'UNIT'
[Unit]
Description=Redeploy the controller when its published certificate changed
After=controller-deploy.service

[Service]
Type=oneshot
ExecStart=/usr/local/bin/deploy-controller --refresh-identity
UNIT
cat >/etc/systemd/system/controller-identity-refresh.timer <<'UNIT'
[Unit]
Description=Check the controller's published certificate every 2 minutes

[Timer]
OnBootSec=5min
OnUnitActiveSec=2min

[Install]
WantedBy=timers.target
UNIT
# Container health as the instance sees it, every minute (the controller-down alarms read it).
cat >/etc/systemd/system/controller-health.service <<'UNIT'
[Unit]
Description=Report the controller container's health to CloudWatch
After=docker.service

[Service]
Type=oneshot
ExecStart=/usr/local/bin/controller-health
UNIT
cat >/etc/systemd/system/controller-health.timer <<'UNIT'
[Unit]
Description=Report the controller container's health every minute

[Timer]
OnBootSec=2min
OnUnitActiveSec=1min

[Install]
WantedBy=timers.target
UNIT
systemctl daemon-reload
systemctl enable controller-deploy.service
systemctl enable --now controller-identity-refresh.timer
systemctl enable --now controller-health.timer
systemctl start --no-block controller-deploy.service
