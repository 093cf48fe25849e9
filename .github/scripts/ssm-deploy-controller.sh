#!/usr/bin/env bash
# Redeploys the controller container through SSM Run Command, checks that it came up healthy and rolls
# back when it did not. Used by .github/workflows/controller-cd.yml; no SSH, no inbound port.
#
# On the instance, /usr/local/bin/deploy-controller (stacks/assets/deploy-controller.sh) pulls the tag,
# replaces the container and exits non-zero unless the new container is healthy. It records a tag as
# "current" only after it was healthy, so after a failed deploy `deploy-controller` with no tag
# redeploys the last healthy image: that is the rollback. (`--rollback` goes one step further back, to
# the image before the current one, which is not what a failed deploy needs.)
#
# Environment:
#   AWS_REGION       region of the controller
#   CONTROLLER_TAG   value of the instance's Role tag, e.g. shf-dev-controller
#   IMAGE_TAG        the image tag to deploy (the commit SHA)
#   DEPLOY_TIMEOUT_SECONDS  limit for one deploy-controller run on the instance (default 900)
#   POLL_SECONDS     pause between status checks (default 5)
# Exit status: 0 deployed and healthy; 1 not healthy (rolled back, or rollback failed too); 2 usage or
# nothing to deploy to.
set -euo pipefail

: "${AWS_REGION:?}" "${CONTROLLER_TAG:?}" "${IMAGE_TAG:?}"
DEPLOY_TIMEOUT_SECONDS="${DEPLOY_TIMEOUT_SECONDS:-900}"
POLL_SECONDS="${POLL_SECONDS:-5}"
SUMMARY="${GITHUB_STEP_SUMMARY:-/dev/null}"
DEPLOY_COMMAND=/usr/local/bin/deploy-controller

log() { printf '%s\n' "$*" >&2; }
summary() { printf '%s\n' "$*" >>"$SUMMARY"; }
error_annotation() { printf '::error title=%s::%s\n' "$1" "$2"; }

if ! [[ "$IMAGE_TAG" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
  error_annotation "Invalid image tag" "'$IMAGE_TAG' is not a valid image tag"
  exit 2
fi
if ! [[ "$DEPLOY_TIMEOUT_SECONDS" =~ ^[0-9]+$ && "$POLL_SECONDS" =~ ^[0-9]+$ ]]; then
  error_annotation "Invalid timeout" "DEPLOY_TIMEOUT_SECONDS and POLL_SECONDS must be whole seconds"
  exit 2
fi

# Running instances carrying the controller's Role tag.
controller_instances() {
  aws ec2 describe-instances --region "$AWS_REGION" \
    --filters "Name=tag:Role,Values=$CONTROLLER_TAG" "Name=instance-state-name,Values=running" \
    --query 'Reservations[].Instances[].InstanceId' --output text
}

# send_command COMMENT COMMAND INSTANCE_ID... -> prints the command id
send_command() {
  local comment="$1" command="$2"
  shift 2
  local parameters
  parameters="$(jq -cn --arg command "$command" --arg timeout "$DEPLOY_TIMEOUT_SECONDS" '{commands: [$command], executionTimeout: [$timeout]}')"
  aws ssm send-command --region "$AWS_REGION" \
    --document-name AWS-RunShellScript \
    --instance-ids "$@" \
    --comment "$comment" \
    --timeout-seconds 600 \
    --parameters "$parameters" \
    --query 'Command.CommandId' --output text
}

# wait_for COMMAND_ID INSTANCE_ID -> prints the final status (Success, Failed, TimedOut, Cancelled, ...)
wait_for() {
  local command_id="$1" instance_id="$2" status deadline
  deadline=$((SECONDS + DEPLOY_TIMEOUT_SECONDS + 660))
  while true; do
    # Right after send-command the invocation may not exist yet: keep asking.
    status="$(aws ssm get-command-invocation --region "$AWS_REGION" --command-id "$command_id" --instance-id "$instance_id" \
      --query Status --output text 2>/dev/null || echo Pending)"
    case "$status" in
      Pending | InProgress | Delayed | Cancelling) ;;
      *)
        printf '%s\n' "$status"
        return 0
        ;;
    esac
    if [ "$SECONDS" -ge "$deadline" ]; then
      printf 'TimedOut\n'
      return 0
    fi
    sleep "$POLL_SECONDS"
  done
}

# show_output COMMAND_ID INSTANCE_ID: the script's output, into the log and the step summary
show_output() {
  local output
  output="$(aws ssm get-command-invocation --region "$AWS_REGION" --command-id "$1" --instance-id "$2" \
    --query '[StandardOutputContent, StandardErrorContent]' --output text 2>/dev/null || true)"
  log "--- output of $1 on $2 ---"
  log "$output"
  summary "" '```text' "$output" '```'
}

found="$(controller_instances)"
read -r -a instances <<<"$found"
if [ "${#instances[@]}" -eq 0 ]; then
  error_annotation "No controller instance" "no running EC2 instance is tagged Role=$CONTROLLER_TAG in $AWS_REGION: deploy the ec2 stack first"
  exit 2
fi
log "deploying $IMAGE_TAG to ${instances[*]} (Role=$CONTROLLER_TAG)"
summary "## Controller deploy: \`$IMAGE_TAG\`" "" "Instances (Role=\`$CONTROLLER_TAG\`): ${instances[*]}"

deploy_id="$(send_command "deploy $IMAGE_TAG" "$DEPLOY_COMMAND $IMAGE_TAG" "${instances[@]}")"
unhealthy=()
for instance in "${instances[@]}"; do
  status="$(wait_for "$deploy_id" "$instance")"
  log "$instance: deploy $status"
  summary "" "- \`$instance\`: deploy **$status**"
  show_output "$deploy_id" "$instance"
  [ "$status" = Success ] || unhealthy+=("$instance")
done

if [ "${#unhealthy[@]}" -eq 0 ]; then
  summary "" "✅ \`$IMAGE_TAG\` is running and healthy."
  exit 0
fi

log "not healthy on ${unhealthy[*]}: rolling back to the last healthy image"
rollback_id="$(send_command "rollback after $IMAGE_TAG" "$DEPLOY_COMMAND" "${unhealthy[@]}")"
rollback_failed=()
for instance in "${unhealthy[@]}"; do
  status="$(wait_for "$rollback_id" "$instance")"
  log "$instance: rollback $status"
  summary "" "- \`$instance\`: rollback **$status**"
  show_output "$rollback_id" "$instance"
  [ "$status" = Success ] || rollback_failed+=("$instance")
done

if [ "${#rollback_failed[@]}" -eq 0 ]; then
  summary "" "❌ \`$IMAGE_TAG\` was not healthy; the previous image is running again."
  error_annotation "Controller not healthy" "$IMAGE_TAG was not healthy on ${unhealthy[*]}; rolled back to the previous image"
else
  summary "" "🚨 \`$IMAGE_TAG\` was not healthy and the rollback failed on ${rollback_failed[*]}: the controller may be down."
  error_annotation "Controller rollback failed" "$IMAGE_TAG was not healthy and rollback failed on ${rollback_failed[*]}"
fi
exit 1
