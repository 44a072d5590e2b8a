# Sourced by the benchmarks (with `root` set and the working directory at the repository root).
#
#   bench_hub PREFIX   a fresh data directory and a free port for a release hub whose containers,
#                      networks and volumes are named PREFIX-…, its environment, and a trap that
#                      stops the hub and removes all of that on exit. Sets work, port, hub, bin.
#   bench_serve        starts `ganymede serve` (log: $work/hub.log) and waits until it answers.
#                      Sets hub_pid.
bench_hub() {
  bench_prefix="$1"
  bin="${CARGO_TARGET_DIR:-$root/target}/release"
  work="$(mktemp -d)"
  mkdir -p "$work/data"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  hub="http://127.0.0.1:$port"
  export GANYMEDE_HUB__DATA_DIR="$work/data" GANYMEDE_HUB__BIND="127.0.0.1:$port"
  export GANYMEDE_SPAWNER__DOCKER__PREFIX="$bench_prefix"
  export LEPTOS_SITE_ROOT="$root/target/site" RUST_LOG=warn
  trap bench_cleanup EXIT
}

bench_cleanup() {
  [ -n "${hub_pid:-}" ] && kill "$hub_pid" 2>/dev/null || true
  docker rm -f $(docker ps -aq --filter "name=$bench_prefix-") >/dev/null 2>&1 || true
  docker volume rm -f $(docker volume ls -q --filter "name=$bench_prefix-home-") >/dev/null 2>&1 || true
  docker network rm $(docker network ls -q --filter "name=$bench_prefix-") >/dev/null 2>&1 || true
  rm -rf "$work"
}

bench_serve() {
  "$bin/ganymede" serve >"$work/hub.log" 2>&1 &
  hub_pid=$!
  for _ in $(seq 1 50); do curl -fs "$hub/hub/health" >/dev/null && return 0; sleep 0.2; done
  echo "the hub did not answer; its log:" >&2
  cat "$work/hub.log" >&2
  return 1
}
