#!/usr/bin/env bash
# Memory across spawns (issue 9, item 16): a release hub's resident memory idle, after each of N
# cycles of start → 20 proxied requests → stop of a real `base` server, and a few seconds after the
# load. Needs the Docker engine and ganymede/base (scripts/setup.sh run).
#
#   bench/spawn-memory.sh [--spawns N]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
spawns=10
while [ $# -gt 0 ]; do
  case "$1" in
    --spawns) spawns="$2"; shift 2 ;;
    *) echo "usage: $0 [--spawns N]" >&2; exit 2 ;;
  esac
done
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p server
bin="${CARGO_TARGET_DIR:-$root/target}/release"

work="$(mktemp -d)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export GANYMEDE_HUB__DATA_DIR="$work/data" GANYMEDE_HUB__BIND="127.0.0.1:$port" GANYMEDE_SPAWNER__DOCKER__PREFIX=ganymede-spawnbench
export LEPTOS_SITE_ROOT="$root/target/site" RUST_LOG=warn
mkdir -p "$work/data"
cleanup() {
  [ -n "${hub_pid:-}" ] && kill "$hub_pid" 2>/dev/null || true
  docker rm -f $(docker ps -aq --filter name=ganymede-spawnbench-) >/dev/null 2>&1 || true
  docker volume rm -f $(docker volume ls -q --filter name=ganymede-spawnbench-home-) >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo 'bench-password-1' | "$bin/ganymede" user add bench --password-stdin >/dev/null
"$bin/ganymede" serve >"$work/hub.log" 2>&1 &
hub_pid=$!
hub="http://127.0.0.1:$port"
for _ in $(seq 1 50); do curl -fs "$hub/hub/health" >/dev/null && break; sleep 0.2; done
session=$(curl -si -X POST -d 'username=bench&password=bench-password-1' "$hub/hub/fn/login" \
  | sed -n 's/^set-cookie: ganymede-session=\([^;]*\);.*/\1/Ip' | tr -d '\r')
cookie="cookie: ganymede-session=$session"
rss() { awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$hub_pid/status"; }

idle=$(rss)
echo "Hub resident memory across $spawns spawns — $(nproc) cores, $(date -u +%Y-%m-%d)"
echo "| after | MiB |"
echo "|---|---:|"
echo "| idle (signed in) | $idle |"
peak=$idle
for i in $(seq 1 "$spawns"); do
  curl -fs -o /dev/null -X POST -H "$cookie" -d 'flavour=base&size=small&name=' "$hub/hub/fn/start_server"
  curl -fsN -H "$cookie" "$hub/hub/api/users/bench/server/progress" | grep -q '"ready":true'
  for _ in $(seq 1 20); do curl -fs -o /dev/null -H "$cookie" "$hub/user/bench/api/status"; done
  curl -fs -o /dev/null -X POST -H "$cookie" -d 'name=' "$hub/hub/fn/stop_server"
  now=$(rss)
  peak=$(python3 -c "print(max($peak, $now))")
  echo "| spawn $i (started, 20 proxied requests, stopped) | $now |"
done
sleep 5
after=$(rss)
echo "| 5 s after the load | $after |"
echo
echo "idle $idle MiB, peak $peak MiB, after $after MiB ($(python3 -c "print(f'{$after - $idle:+.1f}')") MiB from idle)"
