#!/usr/bin/env bash
# Builds a Debian base image locally, for machines that cannot pull from a
# registry: debootstrap a minimal bookworm root file system (with QEMU
# already in it, so images built FROM it need no network) and import it.
#
#   docker/base-image.sh [TAG]      (default tag: tflm/debian-base:bookworm)
#
# Then: tflm test --runner qemu --docker --base-image tflm/debian-base:bookworm
set -euo pipefail
tag=${1:-tflm/debian-base:bookworm}
if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "$tag is already there"
    exit 0
fi
command -v debootstrap >/dev/null || {
    echo "debootstrap not found: apt-get install debootstrap" >&2
    exit 1
}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
debootstrap --variant=minbase --include=qemu-system-arm,qemu-system-misc bookworm "$root" "$mirror" >/dev/null
# Keep the image small: no package lists or docs.
rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
tar -C "$root" -c . | docker import - "$tag" >/dev/null
echo "built $tag"
