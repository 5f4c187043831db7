#!/usr/bin/env bash
# Profile-guided optimisation of the server as it ships (issue 15, docs/RTP_MODE.md "CPU per
# packet, session 16"): builds an instrumented server (profile dist, in target/pgo-gen), runs it
# under a short training load and merges what it counted into target/pgo/huddle.profdata, which
# scripts/build-dist.sh (the Debian package, scripts/bench.sh, scripts/run.sh) then builds with.
#
#   bash scripts/pgo.sh          # ~20 minutes on 2 cores (two full builds of the server)
#
# Why: a forwarded packet runs the same few thousand instructions once per player, and on this
# machine they miss the instruction cache (callgrind's cache model, fan-out 100: ~300 first-level
# misses per packet). PGO lays the hot paths out together and moves the cold ones away.
#
# Training load (scripts/bench.sh, Huddle alone, both forwarding modes): fan-out 1 -> 30, a
# 6-party meeting and an audio-only room — not the sizes the benchmark's report compares
# (fan-out 100, meeting 16), so the report does not measure its own training set.
#
# Needs rustup's llvm-tools component (installed here on first use: network) for llvm-profdata.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "[pgo] $*" >&2; }

TARGET="${CARGO_TARGET_DIR:-target}"
[[ "$TARGET" = /* ]] || TARGET="$ROOT/$TARGET"
GEN="$TARGET/pgo-gen"
RAW="$GEN/profraw"
OUT="$TARGET/pgo/huddle.profdata"

host="$(rustc -vV | sed -n 's/^host: //p')"
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [[ ! -x "$profdata" ]]; then
  log "rustup component add llvm-tools (llvm-profdata)"
  rustup component add llvm-tools
fi

log "instrumented build (profile dist) in $GEN"
rm -rf "$RAW"
mkdir -p "$RAW"
RUSTFLAGS="-Cprofile-generate=$RAW" CARGO_TARGET_DIR="$GEN" cargo build --profile dist -q -p huddle
cargo build --release -q -p huddle-bench
# Build scripts were instrumented too and counted themselves while building: only the server's
# own runs below are training.
rm -f "$RAW"/*.profraw

log "training: fan-out 30, meeting 6, audio 10x30, frame and RTP forwarding"
LLVM_PROFILE_FILE="$RAW/huddle-%m.profraw" HUDDLE_BIN="$GEN/dist/huddle" BENCH_SERVERS=huddle \
  BENCH_FORWARDING="frame rtp" BENCH_SCENARIOS="fanout:30,meeting:6,audio:10:30" \
  BENCH_FLOOR=none BENCH_MACHINE_FLOOR=0 BENCH_NO_BUILD=1 BENCH_OUT="$GEN/training.md" \
  bash scripts/bench.sh >"$GEN/training.log" 2>&1 ||
  { tail -20 "$GEN/training.log" >&2; log "training run failed"; exit 1; }
ls "$RAW"/huddle-*.profraw >/dev/null 2>&1 || { log "the server wrote no profile"; exit 1; }

mkdir -p "$(dirname "$OUT")"
"$profdata" merge -o "$OUT" "$RAW"/huddle-*.profraw
log "wrote $OUT ($(du -h "$OUT" | cut -f1))"
