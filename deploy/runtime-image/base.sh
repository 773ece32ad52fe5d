#!/usr/bin/env bash
# Builds the Debian base image both local images start from, without any registry: debootstrap of the suite this
# machine runs, from the mirror its apt already uses, with the interpreters of Warden's language catalog
# (packages.txt) and what the Warden service needs (../service-packages.txt), then `docker import`.
#   deploy/runtime-image/base.sh [IMAGE]   (default warden-base:<suite>; needs root, debootstrap, a running dockerd)
# Nothing is trimmed here: the docker backend's runtime image (build.sh) and Warden's own image (../build-image.sh)
# each take what they need from it, so one debootstrap serves both.
set -euo pipefail
# Debian's client (matches Debian's dockerd) when present, whatever else is first on PATH.
docker() { if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else command docker "$@"; fi; }
here="$(cd "$(dirname "$0")" && pwd)"
suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
image="${1:-warden-base:$suite}"
packages="$(cat "$here/packages.txt" "$here/../service-packages.txt" | sed 's/#.*//' | tr -s ' \n' ' ')"
# Recorded on the image, so ../build-image.sh rebuilds it when either list changes.
packages_hash="$(cat "$here/packages.txt" "$here/../service-packages.txt" | sha256sum | cut -c1-16)"

# The mirror apt is configured with (deb822 .sources or a classic sources.list line): no host is hard-coded here.
mirror="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)"
[ -n "$mirror" ] || mirror="$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)"
[ -n "$mirror" ] || { echo "base.sh: no Debian mirror found in apt's configuration" >&2; exit 1; }

work="$(mktemp -d /var/tmp/warden-rootfs.XXXXXX)"
trap 'rm -rf "$work"' EXIT
echo "base.sh: debootstrap $suite from the configured mirror into $work"
debootstrap --variant=minbase --include="$(echo $packages | tr ' ' ',')" "$suite" "$work/rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
  || { tail -30 "$work/debootstrap.log" >&2; exit 1; }
# Package caches and lists are not part of any image; the mirror stays configured for anyone who extends the image.
rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/usr/share/doc" "$work/rootfs/usr/share/man"
tar -C "$work/rootfs" -c . | docker import -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
  -c "LABEL dev.warden.base=$suite dev.warden.packages=$packages_hash" - "$image" > /dev/null
echo "base.sh: imported $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1048576}'))"
