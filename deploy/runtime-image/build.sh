#!/usr/bin/env bash
# Builds the docker backend's runtime image without any registry: from the Debian base that base.sh makes (debootstrap
# from the mirror this machine's apt already uses, with the interpreters Warden supports), trimmed to what a sandbox
# should see. The same base serves Warden's own image (../build-image.sh), so one debootstrap serves both.
#   deploy/runtime-image/build.sh [IMAGE]     (default warden-runtime:latest; needs root, debootstrap, a running dockerd)
set -euo pipefail
# Debian's client (matches Debian's dockerd) when present, whatever else is first on PATH.
docker() { if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else command docker "$@"; fi; }
image="${1:-warden-runtime:latest}"
here="$(cd "$(dirname "$0")" && pwd)"
suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
base="warden-base:$suite"
packages_hash="$(cat "$here/packages.txt" "$here/../service-packages.txt" | sha256sum | cut -c1-16)"
if [ "$(docker image inspect -f '{{index .Config.Labels "dev.warden.packages"}}' "$base" 2>/dev/null || true)" != "$packages_hash" ]; then
  "$here/base.sh" "$base"
fi

# What the Warden service needs but a sandbox does not (sandbox tooling, an init) goes; curl stays, for code granted
# egress (it goes through Warden's proxy like everything else). Then the same synthetic
# identity files the other backends show (the image's own user is 199999; Warden runs every container under a host uid
# leased from Warden:SandboxUidBase's range instead), no shadow files or home directories, an empty workspace mount point.
# This recipe's own hash, on the image: scripts/test.d/docker.sh rebuilds an image made by another recipe.
recipe_hash="$(sha256sum "$here/build.sh" | cut -c1-16)"
work="$(mktemp -d /var/tmp/warden-runtime.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cat > "$work/Dockerfile" <<DOCKERFILE
FROM $base
RUN dpkg --purge runsc bubblewrap tini >/dev/null \\
 && printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:199999:199999:sandbox:/sandbox:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' > /etc/passwd \\
 && printf 'root:x:0:\nsandbox:x:199999:\nnogroup:x:65534:\n' > /etc/group \\
 && rm -f /etc/shadow /etc/gshadow /etc/shadow- /etc/gshadow- /etc/passwd- /etc/group- \\
 && rm -rf /root /home /boot /run /srv /media /mnt /var/lib/apt/lists/* /var/cache/apt/*.bin \\
 && mkdir -p /sandbox
USER 199999:199999
WORKDIR /sandbox
ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8
LABEL dev.warden.runtime=1 dev.warden.recipe=$recipe_hash
DOCKERFILE
docker build --network none -q -t "$image" "$work" > /dev/null
echo "build.sh: built $image from $base ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1048576}'))"
