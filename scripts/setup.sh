#!/usr/bin/env bash
# Installs what Ganymede needs on a Debian machine, and only what is missing. Safe to run again.
#
#   scripts/setup.sh run    the tools to build and run the hub (release build), and a running Docker engine
#   scripts/setup.sh test   the above, plus Chromium, Playwright's npm packages, a running
#                           PostgreSQL 15 for the tests (scripts/test-postgres.sh) and a JupyterLab
#                           venv (.tools/jupyter-venv) for the local spawner's tests
#
#   scripts/setup.sh MODE PART...   only these parts, in this order: packages, toolchain, npm,
#                           docker, venv, images, postgres (all of them when none is named).
#                           scripts/test.sh builds the images and the venv while cargo compiles.
#
# Every install is announced on a line starting with "setup:".
set -euo pipefail

mode="${1:-test}"
shift || true
parts=("$@")
[ "${#parts[@]}" -gt 0 ] || parts=(packages toolchain npm docker venv images postgres)
want() { local p; for p in "${parts[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

say() { echo "setup: $*"; }

BINARYEN_VERSION="132.0.0"
# wasm-bindgen's CLI must equal the crate version pinned in Cargo.lock.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"

export PATH="$HOME/.cargo/bin:$root/.tools/node_modules/.bin:$PATH"

# --- Debian packages -------------------------------------------------------
if want packages; then
packages=()
command -v cc >/dev/null || packages+=(build-essential)
command -v pkg-config >/dev/null || packages+=(pkg-config)
command -v curl >/dev/null || packages+=(curl ca-certificates)
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
command -v dockerd >/dev/null || packages+=(docker.io)
command -v debootstrap >/dev/null || packages+=(debootstrap)
if [ "$mode" = "test" ]; then
  command -v chromium >/dev/null || packages+=(chromium)
  # A real Prometheus scrapes /hub/metrics in the metrics tests.
  command -v prometheus >/dev/null || packages+=(prometheus)
fi
if [ "${#packages[@]}" -gt 0 ]; then
  say "installing Debian packages: ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${packages[@]}" >/dev/null
fi
fi

# --- Rust toolchain pieces -------------------------------------------------
# The site is built without cargo-leptos (scripts/build-site.sh): cargo, wasm-bindgen, wasm-opt.
if want toolchain; then
if ! command -v cargo >/dev/null; then
  echo "setup: cargo is missing; install Rust with rustup (https://rustup.rs) and run this again" >&2
  exit 1
fi
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown Rust target"
  rustup target add wasm32-unknown-unknown
fi
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (matches Cargo.lock)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
fi

# --- npm tools ---------------------------------------------------------------
if want npm && [ "$mode" = "run" ]; then
  # wasm-opt for release builds. Debian's binaryen is too old (its output never hydrates).
  if [ "$(cat .tools/node_modules/binaryen/package.json 2>/dev/null | grep -o "\"version\": \"$BINARYEN_VERSION\"")" = "" ]; then
    say "installing wasm-opt (npm binaryen $BINARYEN_VERSION) into .tools/"
    mkdir -p .tools
    npm install --prefix .tools --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION"
  fi
fi
if want npm && [ "$mode" = "test" ]; then
  if [ ! -d end2end/node_modules/@playwright/test ] || [ ! -d end2end/node_modules/oidc-provider ] || [ end2end/package-lock.json -nt end2end/node_modules/.package-lock.json ]; then
    say "installing Playwright's npm packages (npm ci in end2end/)"
    (cd end2end && npm ci --no-audit --no-fund --silent)
  fi
fi

# --- JupyterLab for the local spawner's tests -------------------------------
if want venv && [ "$mode" = "test" ] && ! .tools/jupyter-venv/bin/python -c 'import jupyterlab, jupyterhub, jupyterhub_idle_culler' 2>/dev/null; then
  say "building .tools/jupyter-venv with jupyterlab and jupyterhub (the local spawner's tests, both kinds) and jupyterhub-idle-culler (the services' tests)"
  command -v python3 >/dev/null || { echo "setup: python3 is missing (apt-get install python3-venv)" >&2; exit 1; }
  mkdir -p .tools
  [ -x .tools/jupyter-venv/bin/python ] || python3 -m venv .tools/jupyter-venv
  .tools/jupyter-venv/bin/pip install --quiet --disable-pip-version-check jupyterlab 'jupyterhub==5.*' jupyterhub-idle-culler
fi

# --- Docker engine (the spawner, image builds) -----------------------------
# Without the userland proxy, ports published on 127.0.0.1 are plain NAT: the hub's socket talks to
# Jupyter's directly, so its immediate ACKs work (docker-proxy would add a 40 ms delayed ACK to every
# kernel round trip; see bench/).
if want docker && ! docker info >/dev/null 2>&1; then
  say "starting the Docker engine (dockerd --userland-proxy=false)"
  setsid dockerd --userland-proxy=false >/var/log/dockerd.log 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { echo "setup: dockerd did not start; see /var/log/dockerd.log" >&2; exit 1; }
fi

# --- Notebook images ---------------------------------------------------------
# The machine's CA bundle goes in as an extra CA, for pip behind a TLS-intercepting proxy.
if want images; then
  extra_ca=()
  [ -f /etc/ssl/certs/ca-certificates.crt ] && extra_ca=(--extra-ca /etc/ssl/certs/ca-certificates.crt)
  if [ "$mode" = "test" ]; then
    images/build.sh "${extra_ca[@]}" base singleuser singleuser6 docker-stacks
  else
    images/build.sh "${extra_ca[@]}" base scipy
  fi
fi

# --- PostgreSQL for the tests (the integration suite runs on it too) ----------
if want postgres && [ "$mode" = "test" ] && [ -z "${GANYMEDE_TEST_DATABASE:-}" ]; then
  say "PostgreSQL for the tests: $(scripts/test-postgres.sh)"
fi

say "ready ($mode: ${parts[*]})"
