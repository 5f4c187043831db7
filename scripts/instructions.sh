#!/bin/bash
# Instructions per forwarded packet of the sans-IO core (docs/RTP_MODE.md, "CPU per packet"):
# callgrind on crates/sfu/tests/instructions.rs (RTP fan-out 1 -> 20, a meeting of 6, or an
# audio-only fan-out 1 -> 20; 6 simulated seconds), counting only the Sfu's own entry points.
# Instruction counts do not move with the machine's load, so this compares two builds where a
# timed benchmark on a busy machine cannot.
#
#   scripts/instructions.sh [tag] [fanout|meeting|audio]
#                                     prints "<tag>: total N instructions, per packet M" and the
#                                     test's output line (packets out, output fingerprint)
#
# Needs valgrind (a manual tool: `apt-get install valgrind`; not used by the test suite).
# The callgrind files stay in /tmp/cg.<tag>.<entry point>.out for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-now}
scenario=${2:-fanout}
case "$scenario" in fanout|meeting|audio) ;; *) echo "scenario: fanout, meeting or audio" >&2; exit 2 ;; esac
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
bin=$(cargo test --release -p huddle-sfu --test instructions --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*instructions-[^"]*\)".*/\1/p' | tail -1)
[ -x "$bin" ] || { echo "could not build the instructions test" >&2; exit 1; }
total=0
for ep in handle_datagram handle_timeout poll_transmit; do
  out=$(valgrind --tool=callgrind --callgrind-out-file="/tmp/cg.$tag.$ep.out" --collect-atstart=no \
    --zero-before='*counting_starts*' --toggle-collect="huddle_sfu::sfu::Sfu::$ep" \
    "$bin" "rtp_${scenario}_instructions" --exact --ignored --nocapture --test-threads=1 2>/dev/null |
    grep -oE "(counted|out fingerprint).*")
  n=$(callgrind_annotate "/tmp/cg.$tag.$ep.out" 2>/dev/null | grep 'PROGRAM TOTALS' | awk '{gsub(",","",$1); print $1}')
  total=$((total + n))
done
packets=$(echo "$out" | sed -n 's/.*out \([0-9]*\) pkts.*/\1/p')
echo "$out" | sed "s/^/$tag: /"
echo "$tag: total $total instructions, per packet $((total / packets))"
