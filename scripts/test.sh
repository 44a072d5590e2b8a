#!/usr/bin/env bash
# Sets up a fresh Debian machine and runs every test: formatting and lints, unit and
# integration tests (real hub on random ports, real SQLite), and the Playwright end-to-end
# suite in Debian's Chromium. Screenshots land in end2end/artifacts/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$root/.tools/node_modules/.bin:$PATH"
export CARGO_TERM_COLOR=never

step() { echo; echo "=== $* ==="; }

step "set-up"
scripts/setup.sh test

step "formatting and lints"
cargo fmt --all -- --check
cargo clippy -p hub -p server --all-targets --locked -- -D warnings

step "build the site and the hub (cargo leptos build)"
cargo leptos build

step "unit and integration tests"
cargo test -p hub -p server -p app --features app/ssr --locked

step "end-to-end tests (Playwright, Chromium)"
(cd end2end && npx playwright test)
