#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs every test: formatting and lints, unit and
# integration tests (real hub on random ports) on SQLite and again on PostgreSQL, and the
# Playwright end-to-end suite (SQLite) in Debian's Chromium. Screenshots land in end2end/artifacts/.
#
# The PostgreSQL run uses the test server scripts/test-postgres.sh starts (a PostgreSQL 15 on
# 127.0.0.1 that stays up for the next run), or the server GANYMEDE_TEST_DATABASE already names
# (an admin URL, e.g. postgres://postgres@127.0.0.1:5432/postgres): each test makes its own
# database there and drops it afterwards.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$root/.tools/node_modules/.bin:$PATH"
export CARGO_TERM_COLOR=never

step() { echo; echo "=== $* ==="; }

step "set-up"
scripts/setup.sh test
pg_url="${GANYMEDE_TEST_DATABASE:-$(scripts/test-postgres.sh)}"

step "formatting and lints"
cargo fmt --all -- --check
cargo clippy -p hub -p server --all-targets --locked -- -D warnings
# The edges reach the database only through hub's operations (ARCHITECTURE.md, "Boundaries").
if grep -rn 'hub::db\b' app/src server/src; then
  echo "app/ and server/ must not use hub::db: add an operation to hub instead" >&2
  exit 1
fi

step "build the site and the hub (cargo leptos build)"
cargo leptos build

step "unit and integration tests (SQLite)"
started=$SECONDS
env -u GANYMEDE_TEST_DATABASE cargo test -p hub -p server -p app --features app/ssr --locked
echo "unit and integration tests on SQLite: $((SECONDS - started)) s"

step "database unit tests and integration tests again (PostgreSQL)"
started=$SECONDS
# Same packages and features as above, so nothing is compiled again; only the database tests differ.
GANYMEDE_TEST_DATABASE="$pg_url" cargo test -p hub -p server -p app --features app/ssr --lib --test api --locked
echo "unit and integration tests on PostgreSQL: $((SECONDS - started)) s"

step "end-to-end tests (Playwright, Chromium)"
(cd end2end && npx playwright test)
