#!/usr/bin/env bash
# Redeploys the controller container on this instance. Called by user data on boot and by the
# container CD workflow through SSM Run Command:
#   deploy-controller [IMAGE_TAG]      deploy a tag; without one, redeploy the last healthy tag
#                                      (what CD runs after a failed deploy: a tag is recorded as
#                                      current only once it was healthy)
#   deploy-controller --rollback       go back one release: redeploy the healthy tag before the current one
#   deploy-controller --refresh-identity
#                                      redeploy the current tag only if the published certificate is not
#                                      the one in use (a rotation was applied); run by a timer
# Steps (the seed's, with the pull moved first so a bad tag never stops a running controller):
# pull, stop, remove, run, then wait until the new container is healthy.
set -euo pipefail

# shellcheck source=/dev/null
. /etc/controller/deploy.env
: "${AWS_REGION:?}" "${REPOSITORY_URL:?}" "${SECRET_ID:?}" "${IDENTITY_PARAMETER:?}" "${LOG_GROUP:?}" "${CONTAINER_NAME:?}" "${INITIAL_IMAGE_TAG:?}"

STATE_DIR=/var/lib/controller
CERT_DIR=/run/controller   # tmpfs: the private key never touches the disk
HEALTH_TIMEOUT_SECONDS="${HEALTH_TIMEOUT_SECONDS:-90}"
mkdir -p "$STATE_DIR"

log() { printf '{"at":"%s","component":"deploy-controller","message":"%s"}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }

current_tag() { cat "$STATE_DIR/current-tag" 2>/dev/null || echo "$INITIAL_IMAGE_TAG"; }

# One run at a time: CD (SSM Run Command), the boot unit and the identity refresh timer.
exec 9>/run/deploy-controller.lock
flock 9

case "${1:-}" in
  --refresh-identity)
    if ! /usr/local/bin/controller-identity changed "$CERT_DIR"; then exit 0; fi
    log "the published certificate changed; redeploying with it"
    tag="$(current_tag)"
    ;;
  --rollback)
    tag="$(cat "$STATE_DIR/previous-tag" 2>/dev/null || true)"
    [ -n "$tag" ] || { log "no previous tag to roll back to"; exit 3; }
    ;;
  "") tag="$(current_tag)" ;;
  *) tag="$1" ;;
esac
if ! [[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
  log "refusing invalid image tag"
  exit 2
fi
image="$REPOSITORY_URL:$tag"

fetch_certificate() {
  # Certificate from SSM (Terraform), the matching key version from Secrets Manager, into tmpfs.
  /usr/local/bin/controller-identity fetch "$CERT_DIR"
  curl -fsS --retry 5 -o "$CERT_DIR/AmazonRootCA1.pem" https://www.amazontrust.com/repository/AmazonRootCA1.pem
}

wait_healthy() {
  local waited=0 status
  while [ "$waited" -lt "$HEALTH_TIMEOUT_SECONDS" ]; do
    status="$(docker inspect --format '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$CONTAINER_NAME" 2>/dev/null || echo "missing missing")"
    case "$status" in
      "running healthy" | "running none") [ "$waited" -ge 10 ] && return 0 ;;
      "exited "* | "dead "* | "missing "* | *" unhealthy") return 1 ;;
    esac
    sleep 5
    waited=$((waited + 5))
  done
  return 1
}

log "deploying $image"
aws ecr get-login-password --region "$AWS_REGION" | docker login --username AWS --password-stdin "${REPOSITORY_URL%%/*}" >/dev/null
docker pull "$image" >/dev/null
fetch_certificate

docker stop "$CONTAINER_NAME" >/dev/null 2>&1 || true
docker rm "$CONTAINER_NAME" >/dev/null 2>&1 || true
docker run -d --name "$CONTAINER_NAME" \
  --restart unless-stopped \
  --memory 256m --read-only --tmpfs /tmp --security-opt no-new-privileges \
  --log-driver awslogs --log-opt "awslogs-region=$AWS_REGION" --log-opt "awslogs-group=$LOG_GROUP" --log-opt awslogs-create-group=false \
  -v "$CERT_DIR:/certs:ro" \
  -e IOT_ENDPOINT="$(cat "$CERT_DIR/endpoint")" \
  -e IOT_THING_NAME="$(cat "$CERT_DIR/thing-name")" \
  -e IOT_CERT_PATH=/certs/certificate.pem -e IOT_KEY_PATH=/certs/private.key -e IOT_CA_PATH=/certs/AmazonRootCA1.pem \
  "$image" >/dev/null

if wait_healthy; then
  previous="$(current_tag)"
  if [ "$previous" != "$tag" ]; then echo "$previous" >"$STATE_DIR/previous-tag"; fi
  echo "$tag" >"$STATE_DIR/current-tag"
  log "controller $tag is healthy"
else
  log "controller $tag is not healthy"
  docker logs --tail 50 "$CONTAINER_NAME" 2>&1 || true
  exit 1
fi
