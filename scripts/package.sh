#!/usr/bin/env bash
# Build the Debian package of Huddle: target/debian/huddle_<version>_<arch>.deb
#
#   bash scripts/package.sh            # builds web/ (scripts/build-web.sh), the release binary, the .deb
#   HUDDLE_DEB_FAST=1 bash scripts/package.sh   # faster, larger (lighter xz compression)
#
# Installs cargo-deb from crates.io on first use (`cargo install cargo-deb --locked`). The package
# layout (binary, systemd unit, /etc/huddle/huddle.toml, /var/lib/huddle, /usr/share/huddle/web)
# is described in docs/DEPLOY.md; its metadata is [package.metadata.deb] in crates/huddle/Cargo.toml.
# Prints the path of the .deb as the last line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "[package] $*" >&2; }

if ! cargo deb --version >/dev/null 2>&1; then
  log "cargo install cargo-deb --locked (first use)"
  cargo install cargo-deb --locked
fi

# The web apps (SDK bundle and demos) go into /usr/share/huddle/web.
bash scripts/build-web.sh >&2
[[ -f web/vendor/flashphoner-room-api-webrtc-only.js ]] || { log "web/ is not built"; exit 1; }

log "cargo deb -p huddle"
# cargo deb builds the release binary and prints the .deb's path. --strip: the release profile
# keeps line tables for profiling (170 MB); the package ships the stripped binary. HUDDLE_DEB_FAST=1
# (scripts/test-package.sh) trades a larger file for a much shorter xz compression.
deb="$(cargo deb -p huddle --strip ${HUDDLE_DEB_FAST:+--fast} | tail -n 1)"
[[ -f "$deb" ]] || { log "no .deb produced"; exit 1; }
log "built $deb ($(du -h "$deb" | cut -f1))"
echo "$deb"
