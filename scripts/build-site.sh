#!/usr/bin/env bash
# Builds the dashboard's static site into target/site (what LEPTOS_SITE_ROOT points at): the
# hydration WASM and its JS glue under pkg/, the stylesheet, and public/ as it is.
#
#   scripts/build-site.sh            debug WASM (tests, development)
#   scripts/build-site.sh --release  size-optimised WASM (profile wasm-release) run through wasm-opt -Oz
#
# This is what `cargo leptos build` does for the front end, in the route Leptos documents for
# builds without cargo-leptos: cargo for wasm32-unknown-unknown, wasm-bindgen --target web, wasm-opt.
# The hub binary itself is an ordinary `cargo build -p server` (LEPTOS_OUTPUT_NAME comes from
# .cargo/config.toml, so the page asks for pkg/ganymede.js and pkg/ganymede.wasm).
# Needs wasm-bindgen at the version in Cargo.lock (and, for --release, wasm-opt): scripts/setup.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$root/.tools/node_modules/.bin:$PATH"

profile=dev
dir=debug
case "${1:-}" in
  "") ;;
  --release) profile=wasm-release; dir=wasm-release ;;
  *) echo "usage: $0 [--release]" >&2; exit 2 ;;
esac

site="$root/target/site"
pkg="$site/pkg"
cargo build -p frontend --lib --target wasm32-unknown-unknown --profile "$profile" --locked
rm -rf "$pkg.new"
mkdir -p "$pkg.new"
wasm-bindgen --target web --no-typescript --out-dir "$pkg.new" --out-name ganymede \
  "$root/target/wasm32-unknown-unknown/$dir/frontend.wasm"
mv "$pkg.new/ganymede_bg.wasm" "$pkg.new/ganymede.wasm"
if [ "$profile" = wasm-release ]; then
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    -o "$pkg.new/ganymede.wasm" "$pkg.new/ganymede.wasm"
fi
cp style/main.css "$pkg.new/ganymede.css"
mkdir -p "$site"
cp -r public/. "$site/"
rm -rf "$pkg"
mv "$pkg.new" "$pkg"
echo "site: $pkg ($(du -k "$pkg/ganymede.wasm" | cut -f1) KiB of WASM, profile $profile)"
