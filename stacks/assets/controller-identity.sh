#!/usr/bin/env bash
# The controller's identity on its instance: the certificate Terraform published (SSM String
# parameter) and the key version from Secrets Manager (AWSCURRENT, else AWSPENDING) whose public key
# matches it. During a rotation the new certificate is published before `identity promote` runs, so
# the pending key is the right one for a while; the key with no certificate is never used.
#   controller-identity fetch DIR     write certificate.pem, private.key, endpoint, thing-name into DIR
#                                     (tmpfs); exit 3 while nothing is published or no key matches
#   controller-identity changed DIR   exit 0 when the published certificate is not the one in DIR, else 1
# The key only passes through shell variables and pipes (printf is a builtin): no temp file.
set -euo pipefail

CONFIG="${CONTROLLER_CONFIG:-/etc/controller/deploy.env}"
# shellcheck source=/dev/null
if [ -r "$CONFIG" ]; then . "$CONFIG"; fi
: "${AWS_REGION:?}" "${SECRET_ID:?}" "${IDENTITY_PARAMETER:?}"

log() { printf '{"at":"%s","component":"controller-identity","message":"%s"}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

# SHA-256 of the public key (DER SubjectPublicKeyInfo) of the certificate / private key on stdin.
certificate_key_sha256() { openssl x509 -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1; }
private_key_sha256() { openssl pkey -pubout -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1; }

published_identity() {
  aws ssm get-parameter --region "$AWS_REGION" --name "$IDENTITY_PARAMETER" --query Parameter.Value --output text 2>/dev/null
}

fetch() {
  local dir="$1" identity certificate certificate_sha stage key key_sha
  if ! identity="$(published_identity)"; then
    log "nothing published in $IDENTITY_PARAMETER yet (the iot stack publishes it)"
    return 3
  fi
  certificate="$(jq -r '.certificatePem // empty' <<<"$identity")"
  if [ -z "$certificate" ]; then
    log "$IDENTITY_PARAMETER holds no certificatePem"
    return 3
  fi
  certificate_sha="$(printf '%s\n' "$certificate" | certificate_key_sha256)"
  for stage in AWSCURRENT AWSPENDING; do
    key="$(aws secretsmanager get-secret-value --region "$AWS_REGION" --secret-id "$SECRET_ID" --version-stage "$stage" --query SecretString --output text 2>/dev/null)" || continue
    key_sha="$(printf '%s\n' "$key" | private_key_sha256)" || continue
    if [ "$key_sha" = "$certificate_sha" ]; then
      install -d -m 0700 "$dir"
      (
        umask 077
        printf '%s\n' "$certificate" >"$dir/certificate.pem"
        printf '%s\n' "$key" >"$dir/private.key"
        jq -r '.endpoint' <<<"$identity" >"$dir/endpoint"
        jq -r '.thingName' <<<"$identity" >"$dir/thing-name"
      )
      log "certificate $(jq -r '.certificateId' <<<"$identity") with the $stage key"
      return 0
    fi
  done
  log "no AWSCURRENT or AWSPENDING key in $SECRET_ID matches certificate $(jq -r '.certificateId' <<<"$identity"); see: npm run identity -- status controller"
  return 3
}

changed() {
  local dir="$1" identity certificate
  identity="$(published_identity)" || return 1
  certificate="$(jq -r '.certificatePem // empty' <<<"$identity")"
  [ -n "$certificate" ] || return 1
  [ -r "$dir/certificate.pem" ] || return 0
  [ "$(printf '%s\n' "$certificate" | certificate_key_sha256)" != "$(certificate_key_sha256 <"$dir/certificate.pem")" ]
}

case "${1:-}" in
  fetch) fetch "${2:?usage: controller-identity fetch DIR}" ;;
  changed) changed "${2:?usage: controller-identity changed DIR}" ;;
  *)
    echo "usage: controller-identity fetch|changed DIR" >&2
    exit 2
    ;;
esac
