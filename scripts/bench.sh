#!/usr/bin/env bash
# Side-by-side load benchmark: Huddle vs Janus VideoRoom vs mediasoup, same scenarios, one run.
# Builds release, installs Janus (Debian package) if missing, sets up a private network
# namespace for Janus (127.0.0.2 on a veth; Janus never gathers on loopback interfaces),
# pins each server to one core and the load generator to another, and writes
# docs/BENCHMARKS.md. Loopback only; every run is bounded in time.
#
# Environment:
#   BENCH_SCENARIOS  comma list (default: fanout:10,fanout:50,fanout:100,fanout:200,meeting:4,meeting:8,meeting:16,audio:10:30)
#   BENCH_DURATION   measurement window per scenario, seconds (default 5)
#   BENCH_WARMUP     seconds between setup and window (default 2)
#   BENCH_SERVERS    "huddle janus" (default), any of "huddle janus mediasoup". mediasoup 3.8.4 is
#                    built on first use by bench/mediasoup/build.sh (~4 min of both cores without
#                    other load; npm registry only) into BENCH_MEDIASOUP_CACHE (default
#                    bench/mediasoup/.build, git-ignored) and run behind bench/mediasoup/server.js
#   BENCH_OUT        report path (default docs/BENCHMARKS.md). Only a default run also copies
#                    its raw rows to bench/results/latest.jsonl: a run with BENCH_OUT elsewhere
#                    (an experiment) leaves the tracked report and rows alone.
#   BENCH_NICE       nice value for servers and load generator (default -10; 0 to disable)
#   BENCH_NO_BUILD   set to use the existing target/release binaries
#   BENCH_FORWARDING "frame rtp" (default): Huddle runs every scenario once per forwarding mode
#                    (--forwarding); the rtp runs are rows `huddle-rtp` with ratios rtp/frame
#   BENCH_FLOOR      "all" (default): the no-server floor (`direct`) for every scenario; "small"
#                    for fanout:10 and meeting:4 only
#   BENCH_MACHINE_FLOOR  1 (default): also the machine's floor per scenario (rows `floor`: one
#                    thread seals each packet with AES-256-GCM and sends it batched, nothing else;
#                    bench/src/floor.rs); 0 to skip
#   BENCH_MEDIA_SHARDS  --media-shards for Huddle (default 1: the one-core comparison with
#                    Janus pinned to one core; the rooms:R:N scenarios always run R shards)
#   BENCH_PGO        1 (default): the build trains the profile-guided optimisation first
#                    (scripts/pgo.sh, ~20 min); 0: build with the profile already there, if any
#   HUDDLE_BIN       the Huddle binary measured as "now" (default target/dist/huddle, built
#                    unless BENCH_NO_BUILD), e.g. one built in a private worktree
#   HUDDLE_BASELINE_BIN  another huddle binary (e.g. built from an older commit in its own
#                    worktree): run right after Huddle on every scenario, same flags, cores and
#                    forwarding modes (--media-shards only if it has the flag), and compared
#                    side by side, frame mode with frame mode and rtp with rtp
#                    (CPU/pkt, RSS, memory per subscription, p99, loss; ratio = now / baseline),
#                    printed and written to bench/results/baseline-compare.md. The second
#                    server of a pair measured up to 30 % slower on this machine whatever the binary
#                    (3 Dec, docs/RTP_MODE.md session 22): run it both ways round and compare means.
#
# Scenario rooms:R:N (R rooms, each a fan-out 1 -> N) is Huddle only: its server gets every
# core (taskset -c 0-(R-1)), because it shows that R rooms on R media shards use R cores; the
# load generator then shares a core with it. The line printed per run gives each media
# shard's CPU ("shards cpu huddle-media-0 x% huddle-media-1 y%", /proc/<pid>/task/*/stat).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SCENARIOS="${BENCH_SCENARIOS:-fanout:10,fanout:50,fanout:100,fanout:200,meeting:4,meeting:8,meeting:16,audio:10:30}"
DURATION="${BENCH_DURATION:-5}"
WARMUP="${BENCH_WARMUP:-2}"
SERVERS="${BENCH_SERVERS:-huddle janus}"
OUT="${BENCH_OUT:-docs/BENCHMARKS.md}"
NICE="${BENCH_NICE:--10}"
MEDIA_SHARDS="${BENCH_MEDIA_SHARDS:-1}"
FORWARDING="${BENCH_FORWARDING:-frame rtp}"
FLOOR="${BENCH_FLOOR:-all}"
MACHINE_FLOOR="${BENCH_MACHINE_FLOOR:-1}"
NS="hbench$$"
WORK="$(mktemp -d /tmp/huddle-bench.XXXXXX)"
RESULTS="$WORK/results.jsonl"
HUDDLE_PID=""
JANUS_PID=""
MS_PID=""

NCPU="$(nproc)"
if [ "$NCPU" -ge 2 ]; then SERVER_CPU=0; LOADGEN_CPU=1; else SERVER_CPU=0; LOADGEN_CPU=0; fi

log() { echo "[bench] $*" >&2; }

stop_pid() { # pid: TERM, then KILL after 5 s
  local pid="$1"
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  stop_pid "$HUDDLE_PID"
  stop_pid "$JANUS_PID"
  stop_pid "$MS_PID"
  ip netns del "$NS" 2>/dev/null || true
  if [ -n "${KEEP_WORK:-}" ]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A prefix array, not a function: "cmd &" must give the pid of the server itself (exec chain).
if [ "$NICE" != "0" ]; then NICE_CMD=(nice -n "$NICE"); else NICE_CMD=(env); fi

if [ -z "${BENCH_NO_BUILD:-}" ]; then
  # The server as it ships (the Debian package's binary: profile dist, link-time optimised,
  # built with the profile of scripts/pgo.sh, trained on other room sizes than the ones this
  # report compares; BENCH_PGO=0 skips the training); the load generator as the tests build it.
  log "building huddle as it ships (scripts/pgo.sh, scripts/build-dist.sh) and bench (release)"
  cargo build --release -q -p huddle-bench
  [ "${BENCH_PGO:-1}" = 0 ] || bash scripts/pgo.sh
  bash scripts/build-dist.sh -q
fi
BENCH="$ROOT/target/release/bench"
HUDDLE="${HUDDLE_BIN:-$ROOT/target/dist/huddle}"

want_janus=0; want_huddle=0; want_mediasoup=0
case " $SERVERS " in *" janus "*) want_janus=1 ;; esac
case " $SERVERS " in *" huddle "*) want_huddle=1 ;; esac
case " $SERVERS " in *" mediasoup "*) want_mediasoup=1 ;; esac

if [ "$want_mediasoup" = 1 ]; then
  # Idempotent: returns at once when the worker is already built.
  MS_PKG="$(bench/mediasoup/build.sh ${BENCH_MEDIASOUP_CACHE:+"$BENCH_MEDIASOUP_CACHE"})"
fi

if [ "$want_janus" = 1 ] && ! command -v janus >/dev/null 2>&1; then
  log "installing janus (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q janus >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q janus >/dev/null; }
fi

if [ "$want_janus" = 1 ]; then
  log "network namespace $NS with 127.0.0.2 on a veth"
  ip netns add "$NS"
  ip netns exec "$NS" ip link set lo up
  ip netns exec "$NS" ip link add veth0 type veth peer name veth1
  ip netns exec "$NS" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 >/dev/null 2>&1 || true
  ip netns exec "$NS" ip addr add 127.0.0.2/32 dev veth0
  ip netns exec "$NS" ip link set veth1 up
  ip netns exec "$NS" ip link set veth0 up

  JCONF="$WORK/janus-conf"
  mkdir -p "$JCONF"
  cp bench/janus/*.jcfg "$JCONF/"
  sed -i "s#CONFIG_DIR#$JCONF#" "$JCONF/janus.jcfg"
fi

# Every scenario gets a freshly started server, so CPU, memory and leftovers of one scenario
# do not leak into the next; memory per subscription is measured from the idle server.
start_janus() {
  "${NICE_CMD[@]}" taskset -c "$SERVER_CPU" ip netns exec "$NS" janus -C "$JCONF/janus.jcfg" -F "$JCONF" -o \
    >>"$WORK/janus.log" 2>&1 &
  JANUS_PID=$!
  for _ in $(seq 100); do
    if ip netns exec "$NS" ss -ltn 2>/dev/null | grep -q '127.0.0.1:8188'; then break; fi
    sleep 0.1
  done
  ip netns exec "$NS" ss -ltn | grep -q '127.0.0.1:8188' || { tail -20 "$WORK/janus.log"; log "janus did not start"; exit 1; }
  [ "$(cat /proc/$JANUS_PID/comm)" = "janus" ] || { log "pid $JANUS_PID is not janus"; exit 1; }
  sleep 0.5
}

# mediasoup: the Node adapter on the server core; its worker (a child process) inherits the
# pinning and the nice value. CPU and RSS are measured on the worker (the media process).
start_mediasoup() {
  : >"$WORK/mediasoup.out"
  "${NICE_CMD[@]}" taskset -c "$SERVER_CPU" node bench/mediasoup/server.js "$MS_PKG" \
    >"$WORK/mediasoup.out" 2>>"$WORK/mediasoup.log" &
  MS_PID=$!
  for _ in $(seq 100); do grep -q 'mediasoup ready' "$WORK/mediasoup.out" 2>/dev/null && break; sleep 0.1; done
  local ready
  ready="$(grep -m1 'mediasoup ready' "$WORK/mediasoup.out" || true)"
  [ -n "$ready" ] || { tail -20 "$WORK/mediasoup.log"; log "mediasoup did not start"; exit 1; }
  MS_WS="$(sed -E 's/.*ws=([^ ]+).*/\1/' <<<"$ready")"
  MS_WORKER="$(sed -E 's/.*worker_pid=([0-9]+).*/\1/' <<<"$ready")"
  case "$MS_WS" in 127.0.0.1:*) ;; *) log "mediasoup not on 127.0.0.1: $ready"; exit 1 ;; esac
  [ "$(cat /proc/$MS_WORKER/comm)" = "mediasoup-worke" ] || { log "pid $MS_WORKER is not the mediasoup worker"; exit 1; }
  sleep 0.5
}

start_huddle() { # [cpus] [shards] [binary] [forwarding]
  local cpus="${1:-$SERVER_CPU}" shards="${2:-$MEDIA_SHARDS}"
  mkdir -p "$WORK/records"
  : >"$WORK/huddle.out"
  local bin="${3:-$HUDDLE}" shard_flags=(--media-shards "$shards")
  # A baseline from before the media shards has no such flag (it runs one media thread).
  "$bin" --help 2>/dev/null | grep -q -- --media-shards || shard_flags=()
  local forwarding_flags=()
  [ -z "${4:-}" ] || forwarding_flags=(--forwarding "$4")
  RUST_LOG=warn "${NICE_CMD[@]}" taskset -c "$cpus" "$bin" --bind 127.0.0.1 --announce-ips 127.0.0.1 \
    --http-port 0 --https-port 0 --media-port 0 --media-tcp-port 0 --rtmp-port 0 --records-dir "$WORK/records" --web-dir "$ROOT/web" \
    "${shard_flags[@]}" "${forwarding_flags[@]}" \
    `# every load client comes from 127.0.0.1: lift the per-address abuse limits (docs/SECURITY.md)` \
    --max-connections-per-ip 0 --max-pending-media 100000 --max-pending-media-per-ip 100000 \
    --media-requests-per-sec-per-ip 100000 \
    >"$WORK/huddle.out" 2>>"$WORK/huddle.log" &
  HUDDLE_PID=$!
  for _ in $(seq 200); do grep -q 'huddle ready' "$WORK/huddle.out" 2>/dev/null && break; sleep 0.1; done
  READY="$(grep -m1 'huddle ready' "$WORK/huddle.out" || true)"
  [ -n "$READY" ] || { tail -20 "$WORK/huddle.log"; log "huddle did not start"; exit 1; }
  HUDDLE_HTTP="$(sed -E 's/.*http=([^ ]+).*/\1/' <<<"$READY")"
  case "$HUDDLE_HTTP" in 127.0.0.1:*) ;; *) log "huddle not on 127.0.0.1: $READY"; exit 1 ;; esac
  sleep 0.5
}

COMMON=(--duration "$DURATION" --warmup "$WARMUP" --out "$RESULTS" --setup-timeout 20)
BASELINE="${HUDDLE_BASELINE_BIN:-}"
BASE_RESULTS="$WORK/baseline.jsonl"
[ -z "$BASELINE" ] || [ -x "$BASELINE" ] || { log "HUDDLE_BASELINE_BIN $BASELINE is not executable"; exit 1; }
run_huddle() { # scenario cpus shards binary out [modes]: Huddle on one scenario
  # Once per forwarding mode, rtp-mode rows labelled `huddle-rtp` (the report compares them
  # with frame mode, the baseline comparison sets like beside like). Without modes
  # (rooms:R:N) the binary's default, labelled `huddle`.
  local mode
  for mode in ${6:-default}; do
    if [ "$mode" = default ]; then start_huddle "$2" "$3" "$4"; else start_huddle "$2" "$3" "$4" "$mode"; fi
    MODE_OUT="$WORK/mode.jsonl"; : >"$MODE_OUT"
    "${NICE_CMD[@]}" taskset -c "$LOADGEN_CPU" timeout 120 "$BENCH" run --server huddle \
      --server-url "ws://$HUDDLE_HTTP/" --server-pid "$HUDDLE_PID" --scenarios "$1" \
      --duration "$DURATION" --warmup "$WARMUP" --out "$MODE_OUT" --setup-timeout 20 || true
    if [ "$mode" = rtp ]; then jq -c '.server = "huddle-rtp"' "$MODE_OUT" >>"$5"; else cat "$MODE_OUT" >>"$5"; fi
    stop_pid "$HUDDLE_PID"; HUDDLE_PID=""
  done
  # The same run against the baseline binary, right after.
  [ -z "$BASELINE" ] || [ "$5" = "$BASE_RESULTS" ] || run_huddle "$1" "$2" "$3" "$BASELINE" "$BASE_RESULTS" "${6:-}"
}
IFS=',' read -r -a LIST <<<"$SCENARIOS"
log "servers on core $SERVER_CPU, load generator on core $LOADGEN_CPU; scenarios: $SCENARIOS"
for s in "${LIST[@]}"; do
  case "$s" in rooms:*)
    # Huddle only: R rooms on R media shards, the server on R cores (at most all of them).
    rooms="$(cut -d: -f2 <<<"$s")"
    last=$(( rooms <= NCPU ? rooms - 1 : NCPU - 1 ))
    [ "$want_huddle" = 0 ] || run_huddle "$s" "0-$last" "$rooms" "$HUDDLE" "$RESULTS"
    continue ;;
  esac
  [ "$want_huddle" = 0 ] || run_huddle "$s" "$SERVER_CPU" "$MEDIA_SHARDS" "$HUDDLE" "$RESULTS" "$FORWARDING"
  if [ "$want_janus" = 1 ]; then
    start_janus
    "${NICE_CMD[@]}" taskset -c "$LOADGEN_CPU" timeout 120 ip netns exec "$NS" "$BENCH" run --server janus \
      --server-url ws://127.0.0.1:8188 --client-ip 127.0.0.2 --server-pid "$JANUS_PID" --scenarios "$s" "${COMMON[@]}" || true
    stop_pid "$JANUS_PID"; JANUS_PID=""
  fi
  if [ "$want_mediasoup" = 1 ]; then
    start_mediasoup
    "${NICE_CMD[@]}" taskset -c "$LOADGEN_CPU" timeout 120 "$BENCH" run --server mediasoup \
      --server-url "ws://$MS_WS" --server-pid "$MS_WORKER" --scenarios "$s" "${COMMON[@]}" || true
    stop_pid "$MS_PID"; MS_PID=""
  fi
  # The machine's floor of forwarding: AES-256-GCM seal + batched send per packet and nothing
  # else, sender on the servers' core, receiver on the load generator's (bench/src/floor.rs).
  if [ "$MACHINE_FLOOR" = 1 ]; then
    "${NICE_CMD[@]}" timeout 60 "$BENCH" floor --scenarios "$s" --send-cpu "$SERVER_CPU" \
      --recv-cpu "$LOADGEN_CPU" --duration "$DURATION" --warmup "$WARMUP" --out "$RESULTS" || true
  fi
  # No-server floor of the load generator itself (every scenario unless BENCH_FLOOR=small).
  case "$FLOOR:$s" in all:*|*:fanout:10|*:meeting:4)
    "${NICE_CMD[@]}" taskset -c "$LOADGEN_CPU" timeout 120 "$BENCH" run --server direct --scenarios "$s" "${COMMON[@]}" || true ;;
  esac
done

JANUS_VER="$( (janus --version 2>/dev/null || true) | head -1)"
MS_NOTE=""
[ "$want_mediasoup" = 1 ] && MS_NOTE=", mediasoup 3.8.4 (one worker, logLevel warn; its publishers send VP8 with picture IDs, bench/src/vp8_rtp.rs)"
NOTES="Huddle forwarding modes: $FORWARDING. Pinning: servers on core $SERVER_CPU, load generator on core $LOADGEN_CPU (taskset), nice $NICE for both. Huddle $(git rev-parse --short HEAD) (RUST_LOG=warn), ${JANUS_VER:-Janus} (debug_level 3)${MS_NOTE}. Window ${DURATION} s after ${WARMUP} s warm-up per scenario; each scenario on a freshly started server."
[ -s "$RESULTS" ] || { log "no results"; exit 1; }
"$BENCH" report --results "$RESULTS" --out "$OUT" --notes "$NOTES"
if [ -z "${BENCH_OUT:-}" ]; then
  mkdir -p bench/results && cp "$RESULTS" bench/results/latest.jsonl
fi
log "wrote $OUT"
if [ -s "$BASE_RESULTS" ]; then
  # Side by side: this tree's Huddle vs the baseline binary, per scenario; ratio = now / base.
  {
    echo "Huddle $(git rev-parse --short HEAD)${HUDDLE_BIN:+ ($HUDDLE_BIN)} vs baseline $BASELINE ($(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)); ratio = now / baseline, lower is better except rx fps."
    echo
    echo "| Scenario | Server (mode) | CPU µs/pkt now / base (ratio) | server CPU % now / base | RSS MiB now / base | KiB per subscription now / base | anon KiB per subscription now / base | video p99 ms now / base (ratio) | loss % now / base | rx video fps now / base | load avg now / base |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    jq -rs --slurpfile base "$BASE_RESULTS" '
      def r(a; b): if (a != null and b != null and b > 0) then ((a / b * 100 | round) / 100 | tostring) else "-" end;
      def f(x): if x == null then "-" else (x * 10 | round) / 10 | tostring end;
      def m(k): if k == null then "-" else f(k / 1024) end;
      .[] | select(.server == "huddle" or .server == "huddle-rtp") as $n
      | ($base | map(select(.scenario == $n.scenario and .server == $n.server)) | last) as $b
      | select($b != null)
      | "| \($n.scenario) | \($n.server) | \(f($n.server_cpu_us_per_pkt)) / \(f($b.server_cpu_us_per_pkt)) (\(r($n.server_cpu_us_per_pkt; $b.server_cpu_us_per_pkt))) | \(f($n.server_cpu_pct)) / \(f($b.server_cpu_pct)) | \(m($n.server_rss_kib)) / \(m($b.server_rss_kib)) | \(f($n.server_kib_per_subscription)) / \(f($b.server_kib_per_subscription)) | \(f($n.server_anon_kib_per_subscription)) / \(f($b.server_anon_kib_per_subscription)) | \(f($n.lat_video_p99_ms)) / \(f($b.lat_video_p99_ms)) (\(r($n.lat_video_p99_ms; $b.lat_video_p99_ms))) | \(f($n.loss_pct)) / \(f($b.loss_pct)) | \(f($n.rx_video_fps)) / \(f($b.rx_video_fps)) | \(f($n.loadavg)) / \(f($b.loadavg)) |"
    ' "$RESULTS"
  } | tee bench/results/baseline-compare.md >&2
  cp "$BASE_RESULTS" bench/results/baseline.jsonl
fi
