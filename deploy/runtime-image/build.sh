#!/usr/bin/env bash
# Builds the docker backend's runtime image without any registry: a Debian root filesystem made with debootstrap from
# the Debian mirror this machine's apt already uses, with the interpreters Warden supports, then `docker import`.
#   deploy/runtime-image/build.sh [IMAGE]     (default warden-runtime:latest; needs root, debootstrap, a running dockerd)
set -euo pipefail
image="${1:-warden-runtime:latest}"
here="$(cd "$(dirname "$0")" && pwd)"
packages="$(grep -v '^#' "$here/packages.txt" | tr '\n' ' ')"
suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"

# The mirror apt is configured with (deb822 .sources or a classic sources.list line): no host is hard-coded here.
mirror="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)"
[ -n "$mirror" ] || mirror="$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)"
[ -n "$mirror" ] || { echo "build.sh: no Debian mirror found in apt's configuration" >&2; exit 1; }

work="$(mktemp -d /var/tmp/warden-rootfs.XXXXXX)"
trap 'rm -rf "$work"' EXIT
echo "build.sh: debootstrap $suite from the configured mirror into $work"
debootstrap --variant=minbase --include="$(echo "$packages" | tr ' ' ',' | sed 's/,$//')" "$suite" "$work/rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
  || { tail -30 "$work/debootstrap.log" >&2; exit 1; }

# A non-root user for the program, an empty workspace mount point, and nothing left over from package installation.
chroot "$work/rootfs" /usr/sbin/groupadd -g 1000 sandbox
chroot "$work/rootfs" /usr/sbin/useradd -u 1000 -g 1000 -d /sandbox -M -s /bin/sh sandbox
mkdir -p "$work/rootfs/sandbox" "$work/rootfs/input"
rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/usr/share/doc" "$work/rootfs/usr/share/man"

tar -C "$work/rootfs" -c . | docker import \
  -c 'USER 1000:1000' -c 'WORKDIR /sandbox' -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8' \
  -c 'LABEL dev.warden.runtime=1' - "$image" > /dev/null
echo "build.sh: imported $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1048576}'))"
