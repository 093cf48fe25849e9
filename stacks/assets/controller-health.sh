#!/bin/bash
# Host agent (systemd timer, every minute): reports the controller container's health as Docker sees it
# to CloudWatch, 1 = running and healthy (or running without a health check), 0 = anything else. A dead
# instance reports nothing, so the alarm on this metric treats missing data as breaching.
# Settings come from /etc/controller/deploy.env (ec2 stack) and /etc/controller/health.env.
set -euo pipefail

# shellcheck source=/dev/null
. /etc/controller/deploy.env
# shellcheck source=/dev/null
. /etc/controller/health.env

status="$(docker inspect --format '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$CONTAINER_NAME" 2>/dev/null || echo "missing missing")"
case "$status" in
  "running healthy" | "running none") healthy=1 ;;
  *) healthy=0 ;;
esac

aws cloudwatch put-metric-data --region "$AWS_REGION" \
  --namespace "$METRIC_NAMESPACE" \
  --metric-name "$METRIC_NAME" \
  --dimensions "$METRIC_DIMENSION=$METRIC_DIMENSION_VALUE" \
  --unit Count --value "$healthy"
