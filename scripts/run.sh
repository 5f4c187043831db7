#!/usr/bin/env bash
# Install (server deps only), build and run Huddle from the repository root.
#   bash scripts/run.sh [huddle options...]      e.g.  bash scripts/run.sh --help
# The server serves web/ and writes records/ relative to the current directory (the repo root).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/install-deps.sh --server
command -v cargo >/dev/null 2>&1 || { echo "run.sh: cargo not found (install Rust with rustup)" >&2; exit 1; }
# Profile dist: release with link-time optimisation (Cargo.toml), as the Debian package ships
# (with the profile-guided optimisation of scripts/pgo.sh if that has been run).
bash scripts/build-dist.sh
bash scripts/build-web.sh          # web/vendor and web/sdk for the apps the server serves
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
[[ "$TARGET_DIR" = /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
exec "$TARGET_DIR/dist/huddle" "$@"
