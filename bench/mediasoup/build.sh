#!/usr/bin/env bash
# Builds mediasoup 3.8.4 (Node library + C++ worker) for the benchmark, once, into a cache dir.
# Why 3.8.4: it is the last release whose npm tarball vendors every C++ dependency (openssl,
# libuv, libsrtp, usrsctp, abseil), so it builds with no downloads besides the npm registry;
# later releases fetch their deps from GitHub / wrapdb at build time (/work/shared/research/peers.md §2).
#
# Usage: bench/mediasoup/build.sh [cache dir]   (default bench/mediasoup/.build, git-ignored)
# Prints the package dir (the one to require()) on stdout. Idempotent: skips the build when the
# worker binary and the JS deps are already there. Takes ~4 min of both cores.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${1:-$HERE/.build}"
VERSION=3.8.4
PKG="$CACHE/mediasoup-$VERSION/package"
WORKER="$PKG/worker/out/Release/mediasoup-worker"
log() { echo "[mediasoup-build] $*" >&2; }

if [ -x "$WORKER" ] && [ -d "$PKG/node_modules" ] && [ -d "$HERE/node_modules/ws" ]; then
  echo "$PKG"; exit 0
fi

mkdir -p "$CACHE"
if [ ! -x "$WORKER" ]; then
  rm -rf "$CACHE/mediasoup-$VERSION"
  mkdir -p "$CACHE/mediasoup-$VERSION"
  log "npm pack mediasoup@$VERSION"
  (cd "$CACHE" && npm pack --silent "mediasoup@$VERSION" >/dev/null)
  tar xzf "$CACHE/mediasoup-$VERSION.tgz" -C "$CACHE/mediasoup-$VERSION"
  # glibc >= 2.34 made SIGSTKSZ a non-constant long: the vendored abseil's std::max(SIGSTKSZ, 65536)
  # no longer deduces one type. One-line fix (the same one upstream abseil made).
  sed -i 's/std::max(SIGSTKSZ, 65536)/std::max<long>(SIGSTKSZ, 65536)/' \
    "$PKG/worker/deps/libwebrtc/deps/abseil-cpp/abseil-cpp/absl/debugging/failure_signal_handler.cc"
  # The worker's gyp wants python2. pyenv's 2.7 if present (known to work), else python3.
  jobs="$(nproc)"
  # (grep without -q: -q exits at the first match, pyenv then dies of SIGPIPE and pipefail
  # turns the match into a failure.)
  if command -v pyenv >/dev/null 2>&1 && pyenv versions --bare 2>/dev/null | grep '^2\.7' >/dev/null; then
    py2="$(pyenv versions --bare | grep '^2\.7' | tail -1)"
    log "building the worker with gyp under pyenv python $py2 (make -j$jobs, ~4 min)"
    PYENV_VERSION="$(pyenv version-name):$py2" nice -n 10 make -C "$PKG/worker" MEDIASOUP_BUILDTYPE=Release CORES="$jobs" >"$CACHE/build.log" 2>&1 \
      || { tail -30 "$CACHE/build.log" >&2; log "worker build failed (log: $CACHE/build.log)"; exit 1; }
  else
    log "building the worker with gyp under PYTHON=python3 (make -j$jobs, ~4 min)"
    PYTHON=python3 nice -n 10 make -C "$PKG/worker" MEDIASOUP_BUILDTYPE=Release CORES="$jobs" >"$CACHE/build.log" 2>&1 \
      || { tail -30 "$CACHE/build.log" >&2; log "worker build failed (log: $CACHE/build.log)"; exit 1; }
  fi
  [ -x "$WORKER" ] || { log "no worker binary after the build"; exit 1; }
fi
if [ ! -d "$PKG/node_modules" ]; then
  log "npm install of mediasoup's JS dependencies"
  (cd "$PKG" && npm install --silent --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null)
fi
if [ ! -d "$HERE/node_modules/ws" ]; then
  log "npm install of the adapter's dependencies (ws)"
  (cd "$HERE" && npm install --silent --no-audit --no-fund >/dev/null)
fi
echo "$PKG"
