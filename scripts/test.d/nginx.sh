#!/usr/bin/env bash
# nginx for the scale-out tests and bench/replicas.sh: the round-robin balancer in front of several replicas. Only the
# binary is needed: each test writes its own config (a loopback port, its own prefix, pid and logs) and runs
# `nginx -g 'daemon off;'` as a child it stops afterwards, so no system service is started or touched.
set -euo pipefail
if [ -x /usr/sbin/nginx ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "nginx: nginx is missing; run: sudo apt-get install -y nginx (the scale-out tests are skipped until then)" >&2
  exit 0
fi
# The package's post-install starts the default site on port 80; policy-rc.d keeps it from starting here.
# shellcheck source=lib/install-without-service.sh
source "$(dirname "$0")/lib/install-without-service.sh"
install_without_service nginx
