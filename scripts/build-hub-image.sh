#!/usr/bin/env bash
# Builds the hub's container image. Makes the Debian base first when it is missing (no registry here).
#   scripts/build-hub-image.sh [--extra-ca FILE]... [--tag TAG]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tag="ganymede:latest"
while [ $# -gt 0 ]; do
  case "$1" in
    --extra-ca) cp "$2" "docker/extra-ca/$(basename "$2" .pem | sed 's/\.crt$//').crt"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    *) echo "usage: $0 [--extra-ca FILE]... [--tag TAG]" >&2; exit 2 ;;
  esac
done
scripts/debian-base.sh
docker build -t "$tag" .
echo "built $tag"
