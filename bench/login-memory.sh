#!/usr/bin/env bash
# Memory under failed sign-ins (issue 9, item 1): a release hub, its resident memory idle, then
# 1,000 failed `POST /hub/fn/login` from 50 concurrent clients (random unknown names, and every
# tenth a wrong password for a real user), then again after the load. Fails when the peak or the
# memory after the load is 100 MiB or more above idle.
#
#   bench/login-memory.sh [--requests N] [--clients N]
# Needs no Docker engine and no WASM build: sign-in is a server function.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
extra=("$@")
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p server -p ganymede-bench
bin="${CARGO_TARGET_DIR:-$root/target}/release"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 150); do curl -fs -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer from $1" >&2; return 1; }

work="$(mktemp -d)"
cleanup() {
  if [ -n "${gan_pid:-}" ]; then kill "$gan_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port)
base="http://127.0.0.1:$port"
export GANYMEDE_HUB__DATA_DIR="$work/ganymede" GANYMEDE_HUB__BIND="127.0.0.1:$port" RUST_LOG=warn
# Every failure counts against its (name, address) pair; keep the lock-out from answering first.
export GANYMEDE_AUTH__LOCAL__LOCKOUT_MAX_FAILURES=100000
export LEPTOS_SITE_ROOT="$root/target/site"
mkdir -p "$work/ganymede"
echo 'bench-password-1' | "$bin/ganymede" user add bench --password-stdin >/dev/null
"$bin/ganymede" serve >"$work/ganymede.log" 2>&1 &
gan_pid=$!
wait_for "$base/hub/health"
# One good sign-in, so what every sign-in needs once (the dummy hash, a worker buffer, the pool)
# is in place before the idle reading.
curl -fs -o /dev/null -X POST -d 'username=bench&password=bench-password-1' "$base/hub/fn/login"
sleep 1

echo "failed sign-ins against a release hub — $(nproc) cores, $(date -u +%Y-%m-%d)"
"$bin/ganymede-login-memory" --base "$base" --pid "$gan_pid" --user bench "${extra[@]}"
