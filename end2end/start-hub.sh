#!/usr/bin/env bash
# Starts the hub that the Playwright tests use: the debug build from `cargo leptos build`,
# a fresh data directory, self sign-up on, a bootstrap admin, a second user (bob), and the
# Docker spawner with its own name prefix (containers and volumes of earlier runs are removed).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
port="${1:-8765}"
data="$here/.data"
export GANYMEDE_SPAWNER__PREFIX=ganymede-e2e
"$here/cleanup.sh"
rm -rf "$data"
mkdir -p "$data"
export GANYMEDE_HUB__BIND="127.0.0.1:$port"
export GANYMEDE_HUB__DATA_DIR="$data"
export GANYMEDE_AUTH__LOCAL__ALLOW_SIGNUP=true
export GANYMEDE_ADMIN_USER=admin
export GANYMEDE_ADMIN_PASSWORD='e2e-admin-password'
export LEPTOS_SITE_ROOT="$root/target/site"
export RUST_LOG="${RUST_LOG:-info,sqlx=warn}"
cd "$data"
echo 'bob-password-1' | "$root/target/debug/ganymede" user add bob --password-stdin
exec "$root/target/debug/ganymede" serve
