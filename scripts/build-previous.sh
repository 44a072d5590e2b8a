#!/usr/bin/env bash
# Builds the previous release of the hub — commit PREVIOUS, the last landing before the schema
# change the upgrade test crosses (migration 0010) — as target/debug/ganymede-previous, for the
# upgrade-in-place test (server/tests/api/upgrade.rs). The source comes from git history; the
# build shares this checkout's target directory, so only the hub's own crates compile again (the
# binary is renamed so it never replaces target/debug/ganymede). Does nothing when it is built.
set -euo pipefail
PREVIOUS=24e53c8
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
out="$root/target/debug/ganymede-previous"
stamp="$root/target/previous/built-$PREVIOUS"
if [ -x "$out" ] && [ -f "$stamp" ]; then
  exit 0
fi
src="$root/target/previous/src"
rm -rf "$src"
mkdir -p "$src"
git -C "$root" archive "$PREVIOUS" | tar -x -C "$src"
sed -i 's/^name = "ganymede"$/name = "ganymede-previous"/' "$src/server/Cargo.toml"
grep -q '^name = "ganymede-previous"$' "$src/server/Cargo.toml"
cargo build --locked --quiet --manifest-path "$src/Cargo.toml" --target-dir "$root/target" -p server --bin ganymede-previous
touch "$stamp"
