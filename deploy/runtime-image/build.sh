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

# The same synthetic identity files the other backends show (the program runs as 199999, Warden:Docker:User), no
# shadow files or home directories, an empty workspace mount point, and nothing left over from package installation.
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:199999:199999:sandbox:/sandbox:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > "$work/rootfs/etc/passwd"
printf 'root:x:0:\nsandbox:x:199999:\nnogroup:x:65534:\n' > "$work/rootfs/etc/group"
rm -f "$work/rootfs/etc/shadow" "$work/rootfs/etc/gshadow" "$work/rootfs/etc/shadow-" "$work/rootfs/etc/gshadow-" "$work/rootfs/etc/passwd-" "$work/rootfs/etc/group-"
rm -rf "$work/rootfs/root" "$work/rootfs/home" "$work/rootfs/boot" "$work/rootfs/run" "$work/rootfs/srv" "$work/rootfs/media" "$work/rootfs/mnt"
mkdir -p "$work/rootfs/sandbox"
rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/usr/share/doc" "$work/rootfs/usr/share/man"

tar -C "$work/rootfs" -c . | docker import \
  -c 'USER 199999:199999' -c 'WORKDIR /sandbox' -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8' \
  -c 'LABEL dev.warden.runtime=1' - "$image" > /dev/null
echo "build.sh: imported $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1048576}'))"
