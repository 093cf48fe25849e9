#!/usr/bin/env bash
# Puts the fleet-provisioning claim files for new Pis into a directory (the SD card's boot partition):
#
#   device/claim-files.sh PARAMETER SECRET DIR
#     PARAMETER  SSM parameter the fleet stack publishes (output claim-identity-parameter)
#     SECRET     Secrets Manager secret with the claim key versions (output claim-secret-arn)
#     DIR        e.g. /media/$USER/bootfs/smart-home
#
# Writes DIR/claim.cert.pem and DIR/claim.json ({"endpoint", "templateName"}, for the device config)
# from the published identity, DIR/claim.key.pem (0600) from the key version (AWSCURRENT, else
# AWSPENDING) whose public key matches the published certificate, and DIR/AmazonRootCA1.pem.
# Exit 3 when nothing is published or no key version matches (nothing is written then).
set -euo pipefail

readonly ROOT_CA_URL="${AMAZON_ROOT_CA_URL:-https://www.amazontrust.com/repository/AmazonRootCA1.pem}"

die() { printf 'claim-files.sh: %s\n' "$*" >&2; exit "${2:-1}"; }
certificate_key_sha256() { openssl x509 -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1; }
private_key_sha256() { openssl pkey -pubout -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1; }

[ "$#" -eq 3 ] || die "usage: device/claim-files.sh PARAMETER SECRET DIR" 2
parameter="$1" secret="$2" dir="$3"

identity="$(aws ssm get-parameter --name "$parameter" --query Parameter.Value --output text)" ||
  die "cannot read $parameter: deploy the fleet stack first" 3
certificate="$(jq -r '.certificatePem // empty' <<<"$identity")"
[ -n "$certificate" ] || die "$parameter holds no certificatePem" 3
certificate_sha="$(printf '%s\n' "$certificate" | certificate_key_sha256)"

key=""
for stage in AWSCURRENT AWSPENDING; do
  candidate="$(aws secretsmanager get-secret-value --secret-id "$secret" --version-stage "$stage" --query SecretString --output text 2>/dev/null)" || continue
  candidate_sha="$(printf '%s\n' "$candidate" | private_key_sha256)" || continue
  if [ "$candidate_sha" = "$certificate_sha" ]; then key="$candidate"; break; fi
done
[ -n "$key" ] || die "no AWSCURRENT or AWSPENDING key in $secret matches the published claim certificate; see: npm run identity -- status claim" 3

mkdir -p "$dir"
curl -fsS --retry 3 -o "$dir/AmazonRootCA1.pem" "$ROOT_CA_URL"
printf '%s\n' "$certificate" >"$dir/claim.cert.pem"
jq '{endpoint, templateName}' <<<"$identity" >"$dir/claim.json"
(umask 077 && printf '%s\n' "$key" >"$dir/claim.key.pem")
printf 'claim-files.sh: wrote claim files for certificate %s into %s\n' "$(jq -r '.certificateId' <<<"$identity")" "$dir" >&2
