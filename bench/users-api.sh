#!/usr/bin/env bash
# REST API benchmark: `GET /hub/api/users` on a hub holding 10,000 users — Ganymede, and in the
# same run JupyterHub (the baseline, from PyPI, with configurable-http-proxy from npm, installed
# into .tools/) holding the same users. Reported as requests/s, p50/p99 and ratios.
#
#   bench/users-api.sh [--users N] [--seconds N] [--no-jupyterhub]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
users=10000 seconds=5 jupyterhub=1
while [ $# -gt 0 ]; do
  case "$1" in
    --users) users="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --no-jupyterhub) jupyterhub=0; shift ;;
    *) echo "usage: bench/users-api.sh [--users N] [--seconds N] [--no-jupyterhub]" >&2; exit 2 ;;
  esac
done
export PATH="$HOME/.cargo/bin:$root/.tools/node_modules/.bin:$PATH"
"$root/scripts/setup.sh" run >/dev/null
cargo build --release --locked -p server --bin ganymede
"$root/scripts/build-site.sh" --release
cargo build --release -p ganymede-bench

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 150); do curl -fs -o /dev/null "$1" && return 0; sleep 0.2; done; echo "no answer from $1" >&2; return 1; }
# Creates user-00000 … in batches of 1,000 with POST /hub/api/users.
add_users() {
  python3 - "$1" "$2" "$users" <<'PY'
import json, sys, urllib.request
base, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for start in range(0, n, 1000):
    names = [f"user-{i:05d}" for i in range(start, min(n, start + 1000))]
    req = urllib.request.Request(f"{base}/hub/api/users", data=json.dumps({"usernames": names}).encode(),
                                 method="POST", headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=600).read()
PY
}
rss_mib() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

work="$(mktemp -d)"
cleanup() {
  for pid in ${gan_pid:-} ${jh_pid:-}; do kill "$pid" 2>/dev/null || true; done
  pkill -f "configurable-http-proxy.*$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Ganymede, with an admin and an API token.
gport=$(free_port)
ganymede="http://127.0.0.1:$gport"
export GANYMEDE_HUB__DATA_DIR="$work/ganymede" GANYMEDE_HUB__BIND="127.0.0.1:$gport" RUST_LOG=warn
export LEPTOS_SITE_ROOT="$root/target/site"
mkdir -p "$work/ganymede"
echo 'bench-password-1' | target/release/ganymede user add bench --admin --password-stdin >/dev/null
target/release/ganymede serve >"$work/ganymede.log" 2>&1 &
gan_pid=$!
wait_for "$ganymede/hub/health"
session=$(curl -si -X POST -d 'username=bench&password=bench-password-1' "$ganymede/hub/fn/login" \
  | sed -n 's/^set-cookie: ganymede-session=\([^;]*\);.*/\1/Ip' | tr -d '\r')
gtoken=$(curl -fs -X POST -H "cookie: ganymede-session=$session" -H 'content-type: application/json' \
  -d '{"note": "bench"}' "$ganymede/hub/api/users/bench/tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
echo "creating $users users in Ganymede…" >&2
add_users "$ganymede" "$gtoken"
targets=(--target "ganymede=$ganymede=$gtoken")

if [ "$jupyterhub" = 1 ]; then
  if [ ! -x .tools/jupyterhub/bin/jupyterhub ]; then
    echo "installing JupyterHub into .tools/jupyterhub (PyPI)…" >&2
    python3 -m venv .tools/jupyterhub
    .tools/jupyterhub/bin/pip install -q jupyterhub
  fi
  if ! command -v configurable-http-proxy >/dev/null; then
    echo "installing configurable-http-proxy into .tools (npm)…" >&2
    npm install --prefix .tools --silent configurable-http-proxy
  fi
  hport=$(free_port) pport=$(free_port) aport=$(free_port)
  jtoken=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
  mkdir -p "$work/jupyterhub"
  cat >"$work/jupyterhub/jupyterhub_config.py" <<PY
c.JupyterHub.bind_url = "http://127.0.0.1:$pport"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:$hport"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:$aport"
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.db_url = "sqlite:///$work/jupyterhub/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "$work/jupyterhub/cookie_secret"
c.JupyterHub.log_level = "WARN"
c.JupyterHub.services = [{"name": "bench", "api_token": "$jtoken"}]
c.JupyterHub.load_roles = [{"name": "bench", "scopes": ["admin:users", "list:users", "read:users"], "services": ["bench"]}]
PY
  (cd "$work/jupyterhub" && exec "$root/.tools/jupyterhub/bin/jupyterhub" -f jupyterhub_config.py >"$work/jupyterhub.log" 2>&1) &
  jh_pid=$!
  # The hub itself, not through its proxy: the baseline gets no extra hop.
  wait_for "http://127.0.0.1:$hport/hub/api/"
  echo "creating $users users in JupyterHub…" >&2
  add_users "http://127.0.0.1:$hport" "$jtoken"
  targets+=(--target "jupyterhub=http://127.0.0.1:$hport=$jtoken")
fi

echo "GET /hub/api/users with $users users — $(nproc) cores, $(date -u +%Y-%m-%d)"
target/release/ganymede-bench users-api --users "$users" --seconds "$seconds" "${targets[@]}"
echo
echo "| resident memory after the run (MiB) | ganymede $(rss_mib "$gan_pid") |${jh_pid:+ jupyterhub $(rss_mib "$jh_pid") |}"
