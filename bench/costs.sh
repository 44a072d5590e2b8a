#!/usr/bin/env bash
# Prints what the hub's periodic work costs: a /hub/metrics scrape of a hub holding 10,000 users
# and 100 running servers (the scrape's own work and the whole request), and the CPU the
# activity poll spends asking 100 plain-JupyterLab servers about their kernels, per round and
# per minute at the default interval (the stand-in Jupyter's own CPU left out). The measurements
# run in their own test binary (server/tests/costs.rs), one at a time.
#
#   bench/costs.sh            on SQLite
#   GANYMEDE_TEST_DATABASE=postgres://… bench/costs.sh     on a PostgreSQL server
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
cargo test -p hub -p server -p app --features app/ssr --locked --test costs -- --nocapture --test-threads=1 2>&1 \
  | grep -oE 'metrics scrape:.*|activity poll:.*|test result.*'
