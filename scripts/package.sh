#!/usr/bin/env bash
# Build the Debian package of Huddle: target/debian/huddle_<version>_<arch>.deb
#
#   bash scripts/package.sh            # builds web/ (scripts/build-web.sh), the binary (profile dist, PGO), the .deb
#   HUDDLE_DEB_FAST=1 bash scripts/package.sh   # the release binary, lighter xz compression (tests)
#
# Installs cargo-deb from crates.io on first use (`cargo install cargo-deb --locked --debug`).
# The package layout (binary, systemd unit, /etc/huddle/huddle.toml, /var/lib/huddle,
# /usr/share/huddle/web) is described in docs/DEPLOY.md; its metadata is
# [package.metadata.deb] in crates/huddle/Cargo.toml.
# Prints the path of the .deb as the last line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "[package] $*" >&2; }

if ! cargo deb --version >/dev/null 2>&1; then
  log "cargo install cargo-deb --locked --debug (first use)"
  # --debug: compiles in 37 s instead of 65 on 2 cores (every CI run pays it), and packs as fast:
  # its xz is Debian's liblzma either way (a 17 MB .deb in 22 s, 27 with the release build).
  cargo install cargo-deb --locked --debug
fi

# The web apps (SDK bundle and demos) go into /usr/share/huddle/web.
bash scripts/build-web.sh >&2
[[ -f web/vendor/flashphoner-room-api-webrtc-only.js ]] || { log "web/ is not built"; exit 1; }

# The package ships profile dist (release with link-time optimisation across crates, Cargo.toml)
# built with the profile of scripts/pgo.sh (profile-guided optimisation, trained here: ~20 min
# for the two builds and the training run; HUDDLE_PGO=0 skips it). HUDDLE_DEB_FAST=1
# (scripts/test-package.sh) packages the release binary the test suite has just built, with a
# much shorter xz compression: the same code, checked for the package's layout and service.
if [[ -n "${HUDDLE_DEB_FAST:-}" ]]; then
  profile=release
  cargo build --release -q -p huddle
else
  profile=dist
  [[ "${HUDDLE_PGO:-1}" == 0 ]] || bash scripts/pgo.sh
  bash scripts/build-dist.sh -q
fi
log "cargo deb -p huddle --profile $profile --no-build"
# cargo deb packages the binary built above and prints the .deb's path. --strip: profile dist
# keeps line tables for profiling (170 MB); the package ships the stripped binary.
deb="$(cargo deb -p huddle --profile "$profile" --no-build --strip ${HUDDLE_DEB_FAST:+--fast} | tail -n 1)"
[[ -f "$deb" ]] || { log "no .deb produced"; exit 1; }
log "built $deb ($(du -h "$deb" | cut -f1))"
echo "$deb"
