#!/bin/bash
# First boot of the controller instance: Docker, the deploy script, and a boot-time unit that
# (re)fetches the certificate into tmpfs and starts the container. Values come from the ec2 stack.
set -euo pipefail

dnf install -y docker jq
systemctl enable --now docker

install -d -m 0755 /etc/controller
cat >/etc/controller/deploy.env <<'ENV'
AWS_REGION=@@AWS_REGION@@
REPOSITORY_URL=@@REPOSITORY_URL@@
SECRET_ID=@@SECRET_ID@@
LOG_GROUP=@@LOG_GROUP@@
CONTAINER_NAME=controller
INITIAL_IMAGE_TAG=@@INITIAL_IMAGE_TAG@@
ENV

base64 -d >/usr/local/bin/deploy-controller <<'SCRIPT'
@@DEPLOY_SCRIPT_BASE64@@
SCRIPT
chmod 0755 /usr/local/bin/deploy-controller

# On every boot: /run is empty again, so fetch the certificate and restart the container. Until the
# iot stack has stored the certificate (it is deployed after this one), retry every minute.
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
systemctl daemon-reload
systemctl enable controller-deploy.service
systemctl start --no-block controller-deploy.service
