#!/usr/bin/env bash
# Sets up a fresh Debian machine, builds the hub (release) and runs it on http://127.0.0.1:8000
# with the embedded defaults: SQLite in ./data, local accounts.
#
# The first time, give the first administrator's name and password:
#   GANYMEDE_ADMIN_USER=admin GANYMEDE_ADMIN_PASSWORD='a-good-password' scripts/run.sh
# Any setting can be changed in ganymede.toml (see ganymede.example.toml) or as GANYMEDE_<SECTION>__<KEY>.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$root/.tools/node_modules/.bin:$PATH"

scripts/setup.sh run
cargo build --release --locked -p server --bin ganymede
scripts/build-site.sh --release
export LEPTOS_SITE_ROOT="$root/target/site"
export LEPTOS_ENV=PROD
exec "$root/target/release/ganymede" serve "$@"
