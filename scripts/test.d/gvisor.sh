#!/usr/bin/env bash
# The gvisor backend's runtime: Debian's runsc package. The sandbox suites run against it too.
set -euo pipefail
[ -x /usr/bin/runsc ] && exit 0
if [ "$(id -u)" -ne 0 ]; then echo "gvisor: runsc is missing; run: sudo apt-get install -y runsc" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends runsc >/dev/null || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends runsc >/dev/null; }
