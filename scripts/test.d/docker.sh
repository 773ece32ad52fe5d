#!/usr/bin/env bash
# The docker backend's test dependencies: Debian's docker.io and debootstrap, a dockerd started here (no service
# manager runs it on these machines), and the runtime image built locally (no registry). test.sh stops the daemon
# afterwards if this hook started it.
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"
marker="$repo/artifacts/test-logs/.dockerd-started"
if [ "$(id -u)" -ne 0 ]; then echo "docker: the docker backend tests need root" >&2; exit 1; fi
missing=()
for p in docker.io debootstrap curl; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi
if ! curl -fsS --unix-socket /var/run/docker.sock http://docker/_ping >/dev/null 2>&1; then
  "$repo/deploy/runtime-image/start-dockerd.sh"
  mkdir -p "$(dirname "$marker")" && touch "$marker"
fi
image="${WARDEN_DOCKER__IMAGE:-warden-runtime:latest}"
# Rebuilt when missing or built from another package list (the image inherits its base's dev.warden.packages label):
# a stale image would lack an interpreter the tests expect (rustc was added after many machines built theirs).
# The recipe (build.sh) counts too: it decides what is purged from the base (curl stayed from the egress work on).
want="$(cat "$repo/deploy/runtime-image/packages.txt" "$repo/deploy/service-packages.txt" | sha256sum | cut -c1-16)/$(sha256sum "$repo/deploy/runtime-image/build.sh" | cut -c1-16)"
have="$(curl -fsS --unix-socket /var/run/docker.sock "http://docker/images/$image/json" 2>/dev/null \
  | python3 -c 'import json,sys; l=(json.load(sys.stdin).get("Config") or {}).get("Labels") or {}; print(l.get("dev.warden.packages", "") + "/" + l.get("dev.warden.recipe", ""))' 2>/dev/null || true)"
if [ "$have" != "$want" ]; then
  "$repo/deploy/runtime-image/build.sh" "$image"
fi
