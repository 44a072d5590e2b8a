#!/usr/bin/env bash
# Builds Ganymede's notebook flavour images, in layer order, reusing those already present.
#
#   images/build.sh [--extra-ca FILE]... [--force] [FLAVOUR...]     (default: base scipy; also: singleuser singleuser6 docker-stacks)
#
# With no registry reachable, the Debian base image is made first (scripts/debian-base.sh).
# --extra-ca adds a CA bundle or certificate that pip must trust (a TLS-intercepting proxy).
# Images are tagged ganymede/<flavour>:latest.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
force=0
flavours=()
while [ $# -gt 0 ]; do
  case "$1" in
    --extra-ca) cp "$2" "$here/extra-ca/extra-$(basename "$2" | tr -c 'A-Za-z0-9.\n' '_' | sed 's/\.\(crt\|pem\)$//').crt"; shift 2 ;;
    --force) force=1; shift ;;
    -*) echo "usage: $0 [--extra-ca FILE]... [--force] [FLAVOUR...]" >&2; exit 2 ;;
    *) flavours+=("$1"); shift ;;
  esac
done
[ "${#flavours[@]}" -gt 0 ] || flavours=(base scipy)

"$root/scripts/debian-base.sh"

build() {
  local flavour="$1" tag="ganymede/$1:latest"
  if [ "$force" = 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
    echo "images: $tag is present"
    return
  fi
  echo "images: building $tag"
  rm -rf "$here/$flavour/extra-ca"
  cp -r "$here/extra-ca" "$here/$flavour/extra-ca"
  local started=$SECONDS
  docker build -q -t "$tag" "$here/$flavour" >/dev/null
  rm -rf "$here/$flavour/extra-ca"
  echo "images: $tag built in $((SECONDS - started)) s"
}

for flavour in "${flavours[@]}"; do
  [ -f "$here/$flavour/Dockerfile" ] || { echo "images: no such flavour: $flavour" >&2; exit 2; }
done
# Every other flavour builds on base: base first, then the others side by side (their builds
# mostly wait on apt and pip), each with its own log; any failure fails the whole build.
build base
pids=()
logs=()
for flavour in "${flavours[@]}"; do
  [ "$flavour" = base ] && continue
  log="$(mktemp)"
  build "$flavour" >"$log" 2>&1 &
  pids+=("$!")
  logs+=("$log")
done
failed=0
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || failed=1
  cat "${logs[$i]}"
  rm -f "${logs[$i]}"
done
[ "$failed" = 0 ] || { echo "images: a build failed (see above)" >&2; exit 1; }
