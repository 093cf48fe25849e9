#!/usr/bin/env bash
# Smart-home device client: build the package, or install it on a Raspberry Pi.
#
#   device/install.sh bundle [OUT_DIR]     on a dev machine / CI, in the repository (needs node_modules):
#                                          the package scripts/package-device.ts builds, unpacked, in
#                                          OUT_DIR (default dist/smart-home-device; ARCH=x64 for a PC)
#   sudo ./install.sh install              on the Pi, inside an unpacked package: user, directories,
#                                          client with its aws-crt binary, config, systemd unit
#   sudo ./install.sh uninstall            stop and remove the service and code (keeps state and config)
#
# Environment:
#   CLAIM_DIR   where the claim certificate (and this Pi's provisioning-token, if CI wrote one) was put
#               on the SD card (default /boot/firmware/smart-home)
#   DESTDIR     install the files under this root instead of / and enable the unit there (systemctl
#               --root), e.g. for an image build; the service user is still created on this system
set -euo pipefail

readonly SERVICE=smart-home-device
readonly SERVICE_USER=smart-home
readonly DESTDIR="${DESTDIR:-}"
readonly PREFIX="${DESTDIR}/opt/smart-home-device"
readonly CONFIG_DIR="${DESTDIR}/etc/smart-home-device"
readonly STATE_DIR=/var/lib/smart-home-device
readonly UNIT_PATH="${DESTDIR}/etc/systemd/system/${SERVICE}.service"
# The package layout scripts/package-device.ts writes (PACKAGE_LAYOUT there): code, then the rest.
readonly CODE_FILES=(cli.js package.json README.md BUILD-INFO.json)
readonly NATIVE_BINARY=native/aws-crt-nodejs.node
readonly OTHER_FILES=("${SERVICE}.service" config.example.json)

log() { printf '%s\n' "install.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

script_dir() { cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd; }

bundle() {
  local out here repo
  out="$(realpath -m -- "${1:-dist/smart-home-device}")"
  here="$(script_dir)"
  repo="$(cd -- "${here}/.." && pwd)"
  [ -f "${repo}/node_modules/esbuild/package.json" ] || die "run 'npm ci' in ${repo} first"
  (cd -- "${repo}" && npx tsx scripts/package-device.ts --arch "${ARCH:-arm64}" --dir "${out}")
  log "package written to ${out} (copy it to the Pi and run: sudo ./install.sh install)"
}

# Every file of the layout, or one error naming each missing one (before anything is written).
check_package() {
  local src="$1" file missing=()
  for file in "${CODE_FILES[@]}" "${NATIVE_BINARY}" "${OTHER_FILES[@]}"; do
    [ -f "${src}/${file}" ] || missing+=("${file}")
  done
  [ "${#missing[@]}" -eq 0 ] || die "not a complete device package, missing: ${missing[*]} (build it with 'device/install.sh bundle' or take the CI artifact)"
}

install_service() {
  [ "$(id -u)" -eq 0 ] || die "run as root (sudo)"
  local src claim_dir file
  src="$(script_dir)"
  claim_dir="${CLAIM_DIR:-/boot/firmware/smart-home}"
  check_package "${src}"
  command -v node >/dev/null 2>&1 || die "Node.js >= 20 is required (apt install nodejs or NodeSource)"
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || die "Node.js >= 20 is required"

  if ! id -u "${SERVICE_USER}" >/dev/null 2>&1; then
    useradd --system --home-dir "${STATE_DIR}" --no-create-home --shell /usr/sbin/nologin "${SERVICE_USER}"
    log "created system user ${SERVICE_USER}"
  fi
  if getent group gpio >/dev/null 2>&1; then
    usermod -a -G gpio "${SERVICE_USER}"
  fi

  # The code is replaced as a whole (nothing stale from an older release stays), then swapped in.
  rm -rf -- "${PREFIX}.new"
  install -d -m 0755 "${PREFIX}.new/native"
  for file in "${CODE_FILES[@]}"; do install -m 0644 "${src}/${file}" "${PREFIX}.new/"; done
  install -m 0644 "${src}/${NATIVE_BINARY}" "${PREFIX}.new/native/"
  rm -rf -- "${PREFIX}.old"
  if [ -d "${PREFIX}" ]; then mv -- "${PREFIX}" "${PREFIX}.old"; fi
  mv -- "${PREFIX}.new" "${PREFIX}"
  rm -rf -- "${PREFIX}.old"

  # Modes are set by install; ownership by chown afterwards, so nothing is ever wider than its mode.
  install -d -m 0750 "${CONFIG_DIR}" "${CONFIG_DIR}/claim"
  chown "root:${SERVICE_USER}" "${CONFIG_DIR}" "${CONFIG_DIR}/claim"
  if [ ! -f "${CONFIG_DIR}/config.json" ]; then
    install -m 0640 "${src}/config.example.json" "${CONFIG_DIR}/config.json"
    chown "root:${SERVICE_USER}" "${CONFIG_DIR}/config.json"
    log "edit ${CONFIG_DIR}/config.json (endpoint, templateName, deviceType) before starting"
  fi
  if [ -f "${claim_dir}/claim.cert.pem" ] && [ -f "${claim_dir}/claim.key.pem" ]; then
    install -m 0640 "${claim_dir}/claim.cert.pem" "${claim_dir}/claim.key.pem" "${CONFIG_DIR}/claim/"
    chown "root:${SERVICE_USER}" "${CONFIG_DIR}/claim/claim.cert.pem" "${CONFIG_DIR}/claim/claim.key.pem"
    log "claim certificate copied from ${claim_dir}; delete it from the boot partition once the Pi is provisioned"
  fi
  if [ -f "${claim_dir}/provisioning-token" ]; then
    install -m 0640 "${claim_dir}/provisioning-token" "${CONFIG_DIR}/claim/"
    chown "root:${SERVICE_USER}" "${CONFIG_DIR}/claim/provisioning-token"
    log "provisioning token copied; set provisioning.tokenFile to /etc/smart-home-device/claim/provisioning-token in config.json"
  fi
  if [ -f "${claim_dir}/AmazonRootCA1.pem" ] && [ ! -f "${CONFIG_DIR}/AmazonRootCA1.pem" ]; then
    install -m 0644 "${claim_dir}/AmazonRootCA1.pem" "${CONFIG_DIR}/"
  fi
  install -d -m 0700 "${DESTDIR}${STATE_DIR}"
  chown "${SERVICE_USER}:${SERVICE_USER}" "${DESTDIR}${STATE_DIR}"

  install -D -m 0644 "${src}/${SERVICE}.service" "${UNIT_PATH}"
  if [ -n "${DESTDIR}" ]; then
    systemctl --root="${DESTDIR}" enable "${SERVICE}.service"
  else
    systemctl daemon-reload
    systemctl enable "${SERVICE}.service"
  fi
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
    *) sed -n '2,15p' "${BASH_SOURCE[0]}" >&2; exit 64 ;;
  esac
}

main "$@"
