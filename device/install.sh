#!/usr/bin/env bash
# Smart-home device client: build a release bundle, or install it on a Raspberry Pi.
#
#   device/install.sh bundle [OUT_DIR]     on a dev machine / CI, in the repository (needs node_modules):
#                                          esbuild bundle of device/cli.ts + unit + README -> OUT_DIR
#                                          (default dist/smart-home-device)
#   sudo ./install.sh install              on the Pi, inside an unpacked bundle: user, directories,
#                                          aws-crt (prebuilt arm64 binary from npm), systemd unit
#   sudo ./install.sh uninstall            stop and remove the service and code (keeps state and config)
#
# Environment for `install`:
#   CLAIM_DIR   where the claim certificate (and this Pi's provisioning-token, if CI wrote one) was put
#               on the SD card (default /boot/firmware/smart-home)
set -euo pipefail

readonly SERVICE=smart-home-device
readonly SERVICE_USER=smart-home
readonly PREFIX=/opt/smart-home-device
readonly CONFIG_DIR=/etc/smart-home-device
readonly STATE_DIR=/var/lib/smart-home-device
readonly UNIT_PATH=/etc/systemd/system/${SERVICE}.service

log() { printf '%s\n' "install.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

script_dir() { cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd; }

bundle() {
  local out="${1:-dist/smart-home-device}"
  local here repo crt_version
  here="$(script_dir)"
  repo="$(cd -- "${here}/.." && pwd)"
  [ -f "${repo}/node_modules/aws-crt/package.json" ] || die "run 'npm ci' in ${repo} first"
  crt_version="$(node -p "require('${repo}/node_modules/aws-crt/package.json').version")"
  mkdir -p -- "${out}"
  # aws-crt stays external: it loads a native binary that npm installs per platform on the Pi.
  (cd -- "${repo}" && npx esbuild device/cli.ts --bundle --platform=node --target=node20 \
    --external:aws-crt --outfile="${out}/cli.js" --log-level=warning)
  cat > "${out}/package.json" <<JSON
{
  "name": "smart-home-device",
  "private": true,
  "description": "Smart-home Raspberry Pi client (bundle)",
  "engines": { "node": ">=20" },
  "dependencies": { "aws-crt": "${crt_version}" }
}
JSON
  cp -- "${here}/systemd/${SERVICE}.service" "${here}/config.example.json" "${here}/README.md" "${here}/install.sh" "${out}/"
  chmod 0755 "${out}/install.sh"
  log "bundle written to ${out} (copy it to the Pi and run: sudo ./install.sh install)"
}

install_service() {
  [ "$(id -u)" -eq 0 ] || die "run as root (sudo)"
  local src claim_dir
  src="$(script_dir)"
  claim_dir="${CLAIM_DIR:-/boot/firmware/smart-home}"
  [ -f "${src}/cli.js" ] || die "no cli.js next to install.sh: run 'device/install.sh bundle' first and copy the bundle"
  command -v node >/dev/null 2>&1 || die "Node.js >= 20 is required (apt install nodejs or NodeSource)"
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || die "Node.js >= 20 is required"

  if ! id -u "${SERVICE_USER}" >/dev/null 2>&1; then
    useradd --system --home-dir "${STATE_DIR}" --no-create-home --shell /usr/sbin/nologin "${SERVICE_USER}"
    log "created system user ${SERVICE_USER}"
  fi
  if getent group gpio >/dev/null 2>&1; then
    usermod -a -G gpio "${SERVICE_USER}"
  fi

  install -d -m 0755 "${PREFIX}"
  install -m 0644 "${src}/cli.js" "${src}/package.json" "${src}/README.md" "${PREFIX}/"
  (cd -- "${PREFIX}" && npm install --omit=dev --no-audit --no-fund --loglevel=error)

  install -d -m 0750 -o root -g "${SERVICE_USER}" "${CONFIG_DIR}" "${CONFIG_DIR}/claim"
  if [ ! -f "${CONFIG_DIR}/config.json" ]; then
    install -m 0640 -o root -g "${SERVICE_USER}" "${src}/config.example.json" "${CONFIG_DIR}/config.json"
    log "edit ${CONFIG_DIR}/config.json (endpoint, templateName, deviceType) before starting"
  fi
  if [ -f "${claim_dir}/claim.cert.pem" ] && [ -f "${claim_dir}/claim.key.pem" ]; then
    install -m 0640 -o root -g "${SERVICE_USER}" "${claim_dir}/claim.cert.pem" "${claim_dir}/claim.key.pem" "${CONFIG_DIR}/claim/"
    log "claim certificate copied from ${claim_dir}; delete it from the boot partition once the Pi is provisioned"
  fi
  if [ -f "${claim_dir}/provisioning-token" ]; then
    install -m 0640 -o root -g "${SERVICE_USER}" "${claim_dir}/provisioning-token" "${CONFIG_DIR}/claim/"
    log "provisioning token copied; set provisioning.tokenFile to ${CONFIG_DIR}/claim/provisioning-token in config.json"
  fi
  if [ -f "${claim_dir}/AmazonRootCA1.pem" ] && [ ! -f "${CONFIG_DIR}/AmazonRootCA1.pem" ]; then
    install -m 0644 "${claim_dir}/AmazonRootCA1.pem" "${CONFIG_DIR}/"
  fi
  install -d -m 0700 -o "${SERVICE_USER}" -g "${SERVICE_USER}" "${STATE_DIR}"

  install -m 0644 "${src}/${SERVICE}.service" "${UNIT_PATH}"
  systemctl daemon-reload
  systemctl enable "${SERVICE}.service"
  log "installed; start with: systemctl start ${SERVICE} && journalctl -u ${SERVICE} -f"
}

uninstall_service() {
  [ "$(id -u)" -eq 0 ] || die "run as root (sudo)"
  systemctl disable --now "${SERVICE}.service" 2>/dev/null || true
  rm -f -- "${UNIT_PATH}"
  systemctl daemon-reload
  rm -rf -- "${PREFIX}"
  log "removed the service and ${PREFIX}; ${CONFIG_DIR} and ${STATE_DIR} are kept (delete them to forget the device identity)"
}

main() {
  case "${1:-}" in
    bundle) shift; bundle "$@" ;;
    install) install_service ;;
    uninstall) uninstall_service ;;
    *) sed -n '2,13p' "${BASH_SOURCE[0]}" >&2; exit 64 ;;
  esac
}

main "$@"
