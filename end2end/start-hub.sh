#!/usr/bin/env bash
# Starts a hub that the Playwright tests use: the debug build from `cargo test --no-run` (scripts/test.sh)
# with the site from scripts/build-site.sh, a fresh
# data directory, a bootstrap admin, and a second local user (dora).
#
#   start-hub.sh PORT OIDC_PORT          the Docker hub: self sign-up on, the Docker spawner with
#                                        its own name prefix (containers and volumes of earlier
#                                        runs are removed), and OpenID Connect sign-in through the
#                                        test provider (oidc/server.mjs, started by Playwright on
#                                        OIDC_PORT, with the accounts of oidc/fixture.json).
#   start-hub.sh PORT OIDC_PORT local    the local-process hub (spawner.kind = "local"): one
#                                        flavour, Base, run from .tools/jupyter-venv (made by
#                                        scripts/setup.sh test); its own data directory, no OIDC.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
port="${1:-8765}"
oidc_port="${2:-8766}"
mode="${3:-docker}"
case "$mode" in
docker) data="$here/.data" ;;
local) data="$here/.data-local" ;;
*) echo "start-hub.sh: unknown mode $mode (docker or local)" >&2; exit 2 ;;
esac
export GANYMEDE_SPAWNER__DOCKER__PREFIX=ganymede-e2e
"$here/cleanup.sh" "$mode"
rm -rf "$data"
mkdir -p "$data"
export GANYMEDE_HUB__BIND="127.0.0.1:$port"
export GANYMEDE_HUB__DATA_DIR="$data"
export GANYMEDE_ADMIN_USER=admin
export GANYMEDE_ADMIN_PASSWORD='e2e-admin-password'
export LEPTOS_SITE_ROOT="$root/target/site"
export RUST_LOG="${RUST_LOG:-info,sqlx=warn}"
cd "$data"
if [ "$mode" = local ]; then
  venv="$(cd "$root/.tools/jupyter-venv" && pwd -P)"
  if [ ! -x "$venv/bin/jupyter-lab" ]; then
    echo "start-hub.sh: $venv has no JupyterLab; run scripts/setup.sh test" >&2
    exit 1
  fi
  cat >ganymede.toml <<TOML
[spawner]
kind = "local"

[[flavours]]
id = "base"
display_name = "Base"
description = "JupyterLab with Python 3, as a local process."
environment = "$venv"
kind = "jupyterlab"
TOML
else
  export GANYMEDE_AUTH__LOCAL__ALLOW_SIGNUP=true
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

# One GPU from a static inventory, attached by NVIDIA_VISIBLE_DEVICES (these containers start
# on a machine without GPUs): the GPU queue's test (gpu.spec.ts).
[hub]
servers_api_port = 0

[servers]
gpu_discovery = "static"

[spawner.docker]
gpu_attach = "nvidia-runtime-env"

[[gpus]]
uuid = "GPU-e2e-0000"
model = "Test GPU"
memory_mib = 16384

[[sizes]]
id = "small"
display_name = "Small"
cpu = 1.0
memory_mib = 2048

# The plain flavour, and JupyterHub 6's own single-user server (singleuser.spec.ts).
[[flavours]]
id = "base"
display_name = "Base"
description = "JupyterLab with Python 3."
image = "ganymede/base:latest"
icon = "planet"
kind = "jupyterlab"

[[flavours]]
id = "hub6"
display_name = "JupyterHub 6"
description = "JupyterHub's single-user server; the hub signs you in to it."
image = "ganymede/singleuser6:latest"
icon = "book"
kind = "jupyterhub-singleuser"

# A flavour whose server cannot start: the failed start's log (logs.spec.ts).
[[flavours]]
id = "broken"
display_name = "Broken on purpose"
description = "Exits at once with an error, for the tests."
image = "ganymede/base:latest"
icon = "book"
kind = "jupyterlab"
cmd = ["sh", "-c", "echo 'jupyter: cannot read /etc/jupyter/broken.py (on purpose)' >&2; exit 3"]

[[sizes]]
id = "gpu-test"
display_name = "1 GPU"
cpu = 0.5
memory_mib = 1024
gpus = 1
TOML
fi
echo 'dora-password-1' | "$root/target/debug/ganymede" user add dora --password-stdin
echo 'erin-password-1' | "$root/target/debug/ganymede" user add erin --password-stdin
echo 'fern-password-1' | "$root/target/debug/ganymede" user add fern --password-stdin
exec "$root/target/debug/ganymede" serve
