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
. "$root/bench/hub.sh"
bench_hub ganymede-spawnbench
echo 'bench-password-1' | "$bin/ganymede" user add bench --password-stdin >/dev/null
bench_serve
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
