#!/usr/bin/env bash
# Dependencies of the Jupyter/session tests: matplotlib for the sandbox's /usr/bin/python3 (image output tests) and
# the npm packages of tests/jupyter-client (@jupyterlab/services, ws; versions locked in package-lock.json).
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"
if ! /usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "jupyter-deps: matplotlib is missing for /usr/bin/python3; run: sudo apt-get install -y python3-matplotlib" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends python3-matplotlib >/dev/null \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends python3-matplotlib >/dev/null; }
fi
command -v node >/dev/null || { echo "jupyter-deps: node (20+) is required for tests/jupyter-client" >&2; exit 1; }
cd "$repo/tests/jupyter-client"
npm ci --no-audit --no-fund --loglevel=error
