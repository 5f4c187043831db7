#!/usr/bin/env bash
# Builds the server as it ships: `cargo build --profile dist -p huddle` (release with link-time
# optimisation, Cargo.toml), with the profile of scripts/pgo.sh when target/pgo/huddle.profdata
# exists. Extra arguments go to cargo (e.g. -q). The binary: target/dist/huddle.
#
# scripts/package.sh and scripts/bench.sh run scripts/pgo.sh first; scripts/run.sh does not (a
# first start should not wait for two more builds and a training run) and uses a profile only if
# one is there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-target}"
[[ "$TARGET" = /* ]] || TARGET="$ROOT/$TARGET"
profile="$TARGET/pgo/huddle.profdata"
if [[ -f "$profile" ]]; then
  # A function changed since the profile was taken is built without it (LLVM warns about it):
  # run scripts/pgo.sh again after changes to the forwarding path.
  export RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$profile"
  echo "[build-dist] with the profile $profile" >&2
fi
exec cargo build --profile dist -p huddle "$@"
