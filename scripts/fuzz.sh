#!/usr/bin/env bash
# Fuzz the signaling parser and the room core for a bounded time each (default 60 s).
# Usage: bash scripts/fuzz.sh [seconds]
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
# A crash is saved under fuzz/artifacts/<target>/ and must become a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cd fuzz
for target in protocol_parse room_commands; do
    echo "== fuzzing $target for ${secs}s"
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" -- -max_total_time="$secs" -rss_limit_mb=2048
done
