#!/usr/bin/env bash
# Dependencies of the xterm.js client tests (tests/terminal-client): Debian's chromium (driven headless by
# playwright-core; never a downloaded browser build) and the npm packages locked in its package-lock.json.
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"
command -v node >/dev/null || { echo "terminal-deps: node (20+) is required for tests/terminal-client" >&2; exit 1; }
if [ ! -x /usr/bin/chromium ]; then
  [ "$(id -u)" -eq 0 ] || { echo "terminal-deps: /usr/bin/chromium is missing; run: sudo apt-get install -y chromium" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends chromium >/dev/null \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
fi
cd "$repo/tests/terminal-client"
npm ci --no-audit --no-fund --loglevel=error
