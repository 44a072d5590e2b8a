#!/usr/bin/env bash
# Proxy benchmark: Ganymede's proxy against the direct connection to the same JupyterLab server,
# in one run, reported as ratios. Needs the Docker engine and ganymede/base (scripts/setup.sh run).
#
#   bench/run.sh [--seconds N] [--round-trips N] [--sequential N]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$root/.tools/node_modules/.bin:$PATH"
"$root/scripts/setup.sh" run >/dev/null

. "$root/bench/lib.sh"

echo "Ganymede proxy benchmark — $(nproc) cores, $(date -u +%Y-%m-%d)"
target/release/ganymede-bench proxy --direct "$direct" --proxy "$hub" --token "$token" --session "$session" "$@"
echo
echo "Idle proxied websockets — the hub's resident memory"
target/release/ganymede-bench websockets --proxy "$hub" --session "$session" --hub-pid "$hub_pid"
