#!/usr/bin/env bash
# Prints the access policy's query budget: the database statements one request costs, cold and
# warm, for the requests the gates see most (proxied requests by an owner, a share recipient, a
# role holder and an API token; GET /hub/api/user; GET /hub/api/users/{name}). Every statement
# sqlx sends is counted (its `sqlx::query` events); the test that does it also checks the budgets.
#
#   bench/query-budget.sh            on SQLite
#   GANYMEDE_TEST_DATABASE=postgres://… bench/query-budget.sh     on a PostgreSQL server
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"
cargo test -p hub -p server -p app --features app/ssr --locked --test query_budget -- --nocapture 2>&1 \
  | grep -E '^query budget:|test result' 
