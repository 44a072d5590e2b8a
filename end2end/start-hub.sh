#!/usr/bin/env bash
# Starts the hub that the Playwright tests use: the debug build from `cargo leptos build`,
# a fresh data directory, self sign-up on, a bootstrap admin, a second local user (dora), the
# Docker spawner with its own name prefix (containers and volumes of earlier runs are removed),
# and OpenID Connect sign-in through the test provider (oidc/server.mjs, started by Playwright on
# the port after the hub's, with the accounts of oidc/fixture.json).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
port="${1:-8765}"
oidc_port="${2:-8766}"
data="$here/.data"
export GANYMEDE_SPAWNER__DOCKER__PREFIX=ganymede-e2e
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
cat >ganymede.toml <<TOML
[auth.oidc]
enabled = true
issuer_url = "http://127.0.0.1:$oidc_port"
client_id = "ganymede"
client_secret = "ganymede-e2e-secret"
redirect_url = "http://127.0.0.1:$port/hub/oauth_callback"
scopes = ["openid", "profile", "email", "groups"]
allowed_groups = ["users"]
admin_groups = ["admins"]
button_label = "Sign in with Test IdP"
TOML
echo 'dora-password-1' | "$root/target/debug/ganymede" user add dora --password-stdin
exec "$root/target/debug/ganymede" serve
