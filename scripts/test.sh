#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs every test: formatting and lints, unit and
# integration tests (real hub on random ports) on SQLite and again on PostgreSQL, and the
# Playwright end-to-end suite (SQLite) in Debian's Chromium. Screenshots land in end2end/artifacts/.
#
# The PostgreSQL run uses the test server scripts/test-postgres.sh starts (a PostgreSQL 15 on
# 127.0.0.1 that stays up for the next run), or the server GANYMEDE_TEST_DATABASE already names
# (an admin URL, e.g. postgres://postgres@127.0.0.1:5432/postgres): each test makes its own
# database there and drops it afterwards.
#
# One compiled set serves everything: `cargo test --no-run` builds the test binaries and the
# hub binary (target/debug/ganymede) that the end-to-end tests run, so the SQLite pass, the
# PostgreSQL pass and Playwright compile nothing again. The notebook images and the local
# spawner's JupyterLab venv are built in the background while cargo compiles. Each step's time
# is printed at the end (also when a step fails).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$root/.tools/node_modules/.bin:$PATH"
export CARGO_TERM_COLOR=never

timings=()
current=""
current_started=$SECONDS
run_started=$SECONDS
finish_step() {
  if [ -n "$current" ]; then timings+=("$(printf '%6d s  %s' "$((SECONDS - current_started))" "$current")"); fi
  current=""
}
step() {
  finish_step
  current="$*"
  current_started=$SECONDS
  echo
  echo "=== $* ==="
}
report() {
  local rc=$?
  finish_step
  echo
  echo "=== step times ==="
  printf '%s\n' "${timings[@]}"
  printf '%6d s  %s\n' "$((SECONDS - run_started))" "in all (exit status $rc)"
}
trap report EXIT

# The same packages and features for every cargo test invocation, so nothing compiles twice.
test_args=(-p hub -p server -p app --features app/ssr --locked)
# A test pass that runs past this is stuck (each integration test also has its own limit, see
# server/tests/api/helpers.rs): stop it rather than wait for CI's limit.
pass_limit=1500

step "set-up: packages, toolchain, npm, Docker engine, PostgreSQL"
scripts/setup.sh test packages toolchain npm docker postgres
pg_url="${GANYMEDE_TEST_DATABASE:-$(scripts/test-postgres.sh)}"
background_log="$root/target/setup-background.log"
mkdir -p target
scripts/setup.sh test venv images >"$background_log" 2>&1 &
background=$!

step "formatting and lints"
cargo fmt --all -- --check
cargo clippy -p hub -p server --all-targets --locked -- -D warnings
# The edges reach the database only through hub's operations, which take the hub itself
# (ARCHITECTURE.md, "Boundaries"): no hub::db and no raw pool in app/ or server/src.
if grep -rn 'hub::db\b' app/src server/src; then
  echo "app/ and server/ must not use hub::db: add an operation to hub instead" >&2
  exit 1
fi
if grep -rn '\.db()' app/src server/src; then
  echo "app/ and server/src must not take the hub's pool: pass &Hub to a hub operation" >&2
  exit 1
fi

step "build: test binaries and the hub (cargo test --no-run)"
cargo test "${test_args[@]}" --no-run

step "build: the site (scripts/build-site.sh)"
scripts/build-site.sh

step "build: the previous release, for the upgrade test (scripts/build-previous.sh)"
scripts/build-previous.sh

step "set-up in the background: notebook images, JupyterLab venv (waiting for it)"
if ! wait "$background"; then
  cat "$background_log"
  echo "test.sh: the background set-up failed (above)" >&2
  exit 1
fi
cat "$background_log"

step "unit and integration tests (SQLite)"
env -u GANYMEDE_TEST_DATABASE timeout -k 30 "$pass_limit" cargo test "${test_args[@]}"

step "database unit tests and integration tests again (PostgreSQL)"
GANYMEDE_TEST_DATABASE="$pg_url" timeout -k 30 "$pass_limit" cargo test "${test_args[@]}" --lib --test api

step "end-to-end tests (Playwright, Chromium)"
(cd end2end && E2E_RETRIES=2 npx playwright test)
