#!/usr/bin/env bash
# Test the Debian package end to end, as root, and leave the machine as it was:
#
#   1. build it (scripts/package.sh) and `dpkg -i` it;
#   2. check the layout: /usr/bin/huddle, the systemd unit, /etc/huddle/huddle.toml as a conffile
#      (root:huddle 0640), the web apps in /usr/share/huddle/web, the system user huddle and
#      /var/lib/huddle owned by it; `systemd-analyze verify` on the unit where it runs;
#   3. run the unit's ExecStart line by hand as the huddle user in its WorkingDirectory (no
#      systemd as PID 1 on the test machines), on loopback with free ports instead of the
#      packaged 80/443, and check it answers: /api/stats, the start page, the apps, the SDK
#      bundle, HTTPS; then SIGTERM and a clean exit;
#   4. `dpkg -r` (the conffile stays), `dpkg --purge` (it goes), and remove the user and
#      /var/lib/huddle if this script created them.
#
#   sudo bash scripts/test-package.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "[test-package] $*" >&2; }
fail() { echo "[test-package] FAIL: $*" >&2; exit 1; }

[[ "$(id -u)" == 0 ]] || fail "needs root (dpkg -i); run with sudo"
if dpkg-query -W -f='${Status}' huddle 2>/dev/null | grep -q 'install ok installed'; then
  fail "a huddle package is installed already; this test would replace and remove it"
fi
for dep in adduser ffmpeg libopus0; do
  dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q 'install ok installed' ||
    fail "runtime dependency $dep is missing (bash scripts/install-deps.sh --server)"
done

USER_EXISTED=0; getent passwd huddle >/dev/null && USER_EXISTED=1
STATE_EXISTED=0; [[ -e /var/lib/huddle ]] && STATE_EXISTED=1
WORK="$(mktemp -d "/tmp/huddle-test-package-$$-XXXX")"
SERVER_PID=""
cleanup() {
  set +e
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
  fi
  if dpkg-query -W huddle >/dev/null 2>&1; then dpkg --purge huddle >/dev/null; fi
  if [[ "$USER_EXISTED" == 0 ]] && getent passwd huddle >/dev/null; then
    deluser --quiet --system huddle >/dev/null 2>&1
    getent group huddle >/dev/null && delgroup --quiet --system huddle >/dev/null 2>&1
  fi
  [[ "$STATE_EXISTED" == 0 ]] && rm -rf /var/lib/huddle
  rm -rf "$WORK"
}
trap cleanup EXIT

DEB="$(HUDDLE_DEB_FAST=1 bash scripts/package.sh | tail -n 1)"
[[ -f "$DEB" ]] || fail "scripts/package.sh gave no .deb"
log "package: $DEB ($(du -h "$DEB" | cut -f1))"
dpkg-deb --info "$DEB" | sed -n 's/^ *\(Depends\|Installed-Size\):/  &/p' >&2

log "dpkg -i"
dpkg -i "$DEB" >&2

# --- layout -------------------------------------------------------------------
UNIT=""
for candidate in /lib/systemd/system/huddle.service /usr/lib/systemd/system/huddle.service; do
  [[ -f "$candidate" ]] && UNIT="$candidate"
done
[[ -n "$UNIT" ]] || fail "no huddle.service installed"
for f in /usr/bin/huddle /etc/huddle/huddle.toml /usr/share/huddle/web/index.html \
         /usr/share/huddle/web/client/conference.html \
         /usr/share/huddle/web/vendor/flashphoner-room-api-webrtc-only.js \
         /usr/share/doc/huddle/CONFIG.md; do
  [[ -f "$f" ]] || fail "missing $f"
done
[[ -x /usr/bin/huddle ]] || fail "/usr/bin/huddle is not executable"
dpkg-query -W -f='${Conffiles}\n' huddle | grep -q '/etc/huddle/huddle.toml' ||
  fail "/etc/huddle/huddle.toml is not a conffile"
getent passwd huddle >/dev/null || fail "no huddle user"
[[ "$(id -u huddle)" -lt 1000 ]] || fail "huddle is not a system user"
[[ "$(stat -c %U /var/lib/huddle)" == huddle ]] || fail "/var/lib/huddle is not owned by huddle"
[[ "$(stat -c '%U:%G %a' /etc/huddle/huddle.toml)" == "root:huddle 640" ]] ||
  fail "/etc/huddle/huddle.toml is $(stat -c '%U:%G %a' /etc/huddle/huddle.toml), want root:huddle 640"
for want in 'ExecStart=/usr/bin/huddle --config /etc/huddle/huddle.toml' 'User=huddle' \
            'NoNewPrivileges=true' 'ProtectSystem=strict' 'ReadWritePaths=/var/lib/huddle' \
            'Restart=on-failure' 'LimitNOFILE='; do
  grep -q "^$want" "$UNIT" || fail "$UNIT lacks $want"
done
if [[ -e /etc/systemd/system/multi-user.target.wants/huddle.service ]]; then
  log "unit enabled (starts at boot), not started by the install"
else
  fail "the unit was not enabled"
fi
if command -v systemd-analyze >/dev/null 2>&1; then
  # Offline check of the unit file (works without systemd as PID 1).
  if ! out="$(systemd-analyze verify "$UNIT" 2>&1)"; then
    echo "$out" >&2
    fail "systemd-analyze verify $UNIT"
  fi
  [[ -z "$out" ]] || { echo "$out" >&2; fail "systemd-analyze verify printed warnings"; }
  log "systemd-analyze verify: clean"
else
  log "systemd-analyze not available: unit not verified"
fi

# --- the installed server with the packaged config --------------------------------
EXEC="$(sed -n 's/^ExecStart=//p' "$UNIT")"
WORKDIR="$(sed -n 's/^WorkingDirectory=//p' "$UNIT")"
# Loopback and free ports instead of 0.0.0.0:80/443 (the packaged values need the unit's
# CAP_NET_BIND_SERVICE and may be taken on a shared machine); everything else from the file.
read -r -a CMD <<<"$EXEC"
CMD+=(--bind 127.0.0.1 --announce-ips 127.0.0.1 --http-port 0 --https-port 0 --media-port 0 --media-tcp-port 0 --rtmp-port 0)
log "as huddle in $WORKDIR: ${CMD[*]}"
# setpriv execs the server itself (runuser would stay as its parent and exit 143 on SIGTERM).
(cd "$WORKDIR" && exec setpriv --reuid huddle --regid huddle --init-groups -- "${CMD[@]}") \
  >"$WORK/out" 2>"$WORK/err" &
SERVER_PID=$!
for _ in $(seq 1 100); do
  grep -q '^huddle ready' "$WORK/out" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/err" >&2; fail "the server exited"; }
  sleep 0.1
done
READY="$(grep '^huddle ready' "$WORK/out")" || { cat "$WORK/err" >&2; fail "no ready line in 10 s"; }
log "$READY"
HTTP="$(sed -n 's/.* http=\([^ ]*\).*/\1/p' <<<"$READY")"
HTTPS="$(sed -n 's/.* https=\([^ ]*\).*/\1/p' <<<"$READY")"

get() { curl -fsS --max-time 5 "$@"; }
stats="$(get "http://$HTTP/api/stats")" || fail "/api/stats"
grep -q '"connections"' <<<"$stats" || fail "/api/stats answered $stats"
get "http://$HTTP/" | grep -qi '<html\|<!doctype' || fail "the start page"
get -o /dev/null "http://$HTTP/client/conference.html" || fail "the conference app"
get -o /dev/null "http://$HTTP/vendor/flashphoner-room-api-webrtc-only.js" || fail "the SDK bundle"
get -k "https://$HTTPS/api/stats" | grep -q '"connections"' || fail "HTTPS /api/stats"
grep -q 'web_dir=/usr/share/huddle/web' "$WORK/err" || log "(web_dir not in the log line)"
log "the installed server answers: $stats"
# Every metric the Grafana dashboard queries is one the server exports.
get "http://$HTTP/metrics" >"$WORK/metrics" || fail "/metrics"
wanted="$(grep -o 'huddle_[a-z_]*' docs/grafana-huddle.json | sort -u)"
[[ -n "$wanted" ]] || fail "docs/grafana-huddle.json queries no huddle_ metric"
for metric in $wanted; do
  grep -qE "^$metric[ {]" "$WORK/metrics" || fail "docs/grafana-huddle.json queries $metric, which /metrics lacks"
done
log "grafana dashboard: all $(wc -w <<<"$wanted") metrics exported"

kill -TERM "$SERVER_PID"
rc=0; wait "$SERVER_PID" || rc=$?
SERVER_PID=""
[[ "$rc" == 0 ]] || { cat "$WORK/err" >&2; fail "exit code $rc after SIGTERM"; }
[[ "$(stat -c %U /var/lib/huddle/records)" == huddle ]] || fail "records dir not owned by huddle"

# --- removal ------------------------------------------------------------------------
dpkg -r huddle >&2
[[ ! -e /usr/bin/huddle ]] || fail "dpkg -r left /usr/bin/huddle"
[[ -f /etc/huddle/huddle.toml ]] || fail "dpkg -r removed the conffile"
dpkg --purge huddle >&2
[[ ! -e /etc/huddle/huddle.toml ]] || fail "dpkg --purge left the conffile"
[[ ! -e /etc/systemd/system/multi-user.target.wants/huddle.service ]] || fail "purge left the unit enabled"
log "PASS"
