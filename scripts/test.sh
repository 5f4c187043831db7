#!/usr/bin/env bash
# Run the whole test suite: install deps, build, Rust tests, then browser end-to-end tests.
# Exits non-zero if anything fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

t0=$SECONDS
step() { echo; echo "=== [$((SECONDS - t0))s] $*"; }

step "install dependencies"
bash scripts/install-deps.sh
command -v cargo >/dev/null 2>&1 || { echo "test.sh: cargo not found (install Rust with rustup)" >&2; exit 1; }

step "build web apps (scripts/build-web.sh)"
bash scripts/build-web.sh

step "cargo build --release"
cargo build --release --workspace

step "cargo test --workspace --release"
cargo test --release --workspace

step "browser tests (node --test e2e/tests/)"
# One test file at a time: each one starts its own server and browser, and 2 cores are not more.
node --test --test-concurrency=1 e2e/tests/

step "all tests passed in $((SECONDS - t0))s"
