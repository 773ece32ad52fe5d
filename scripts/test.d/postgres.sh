#!/usr/bin/env bash
# PostgreSQL 15 for the history/key-store tests against a real server. Only installs the binaries: each test run starts
# its own throw-away cluster (initdb in a temp directory, unix socket only, no TCP) and stops it afterwards
# (tests/Warden.Server.Tests/Data/PostgresCluster.cs), so nothing keeps running and no system cluster is touched.
set -euo pipefail
if [ -x /usr/lib/postgresql/15/bin/initdb ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "postgres: PostgreSQL 15 is missing; run: sudo apt-get install -y postgresql-15 (its tests are skipped until then)" >&2
  exit 0
fi
# The package's post-install creates and starts a default cluster; policy-rc.d keeps it from starting here.
# shellcheck source=lib/install-without-service.sh
source "$(dirname "$0")/lib/install-without-service.sh"
install_without_service postgresql-15
