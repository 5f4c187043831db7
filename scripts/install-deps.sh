#!/usr/bin/env bash
# Install what Huddle needs on a fresh Debian 12 machine. Idempotent: installs only what is missing.
#
#   bash scripts/install-deps.sh            # everything: server build deps + browser-test deps
#   bash scripts/install-deps.sh --server   # only what building/running the server (and web/) needs
#
# Downloads come only from Debian's apt repositories and the npm registry.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE=all
for arg in "$@"; do
  case "$arg" in
    --server) MODE=server ;;
    --all) MODE=all ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done

log() { echo "[install-deps] $*" >&2; }

SERVER_PKGS=(ffmpeg libopus-dev pkg-config)
# Browser tests: Chromium and Firefox ESR; the network lab: iproute2 (namespaces), iptables
# (UDP blocked), coturn (TURN relay); pebble (test ACME server for crates/service/tests/service/acme.rs).
TEST_PKGS=(chromium chromium-driver firefox-esr iproute2 iptables coturn pebble redis-server)
PKGS=("${SERVER_PKGS[@]}")
if [[ "$MODE" == all ]]; then
  PKGS+=("${TEST_PKGS[@]}")
fi
# npm builds the web apps (scripts/build-web.sh) and the browser tests need Node.js >= 20.
# Debian's own nodejs is older, so only fall back to it when there is no node/npm at all
# (the project's machines ship Node 20).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PKGS+=(nodejs npm)
fi
# A C toolchain for -sys crates (normally present).
if ! command -v cc >/dev/null 2>&1; then
  PKGS+=(build-essential)
fi

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

MISSING=()
for p in "${PKGS[@]}"; do
  installed "$p" || MISSING+=("$p")
done

if ((${#MISSING[@]})); then
  SUDO=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || { log "need root (or sudo) to install: ${MISSING[*]}"; exit 1; }
    SUDO=(sudo)
  fi
  log "apt-get install: ${MISSING[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 update -q
  "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -q -o Dpkg::Use-Pty=0 "${MISSING[@]}"
else
  log "apt packages present: ${PKGS[*]}"
fi

if [[ "$MODE" == all ]]; then
  E2E="$ROOT/e2e"
  STAMP="$E2E/node_modules/.huddle-lock.sha256"
  want="$(sha256sum "$E2E/package-lock.json" | cut -d' ' -f1)"
  have="$(cat "$STAMP" 2>/dev/null || true)"
  if [[ "$want" != "$have" || ! -d "$E2E/node_modules/playwright-core" || ! -f "$E2E/node_modules/@flashphoner/websdk/flashphoner-room-api.js" ]]; then
    log "npm ci in e2e/"
    # playwright-core never downloads browsers; the variable is belt and braces.
    (cd "$E2E" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$STAMP"
  else
    log "e2e/node_modules up to date"
  fi
fi
