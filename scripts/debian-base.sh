#!/usr/bin/env bash
# Makes the Debian base image that every Ganymede Dockerfile starts FROM, when it is missing.
# With no registry reachable, `debootstrap` a minimal bookworm and `docker import` it. Where a
# registry is reachable this is not needed: `docker build` pulls debian:bookworm-slim itself.
#
#   scripts/debian-base.sh [IMAGE]     (default debian:bookworm-slim)
set -euo pipefail
image="${1:-debian:bookworm-slim}"

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "debian-base: $image is present"
  exit 0
fi
if ! command -v debootstrap >/dev/null; then
  echo "debian-base: installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
echo "debian-base: debootstrap --variant=minbase bookworm (about 30 s)"
debootstrap --variant=minbase bookworm "$rootfs" >/dev/null
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
echo "debian-base: importing as $image"
tar -C "$rootfs" -c . | docker import -c 'CMD ["bash"]' - "$image" >/dev/null
echo "debian-base: $image ready"
