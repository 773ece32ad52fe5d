#!/usr/bin/env bash
# Runs the xterm.js client tests (node:test, headless Chromium via playwright-core) against one real `warden serve` on a
# free loopback port. Installs Debian's chromium when it is missing (never a downloaded browser build).
# WARDEN_BIN: the warden binary (default: the Release build); WARDEN_TEST_BACKEND picks the backend (default bwrap).
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"
export WARDEN_BIN="${WARDEN_BIN:-$repo/src/Warden.Cli/bin/Release/net10.0/warden}"
[ -x "$WARDEN_BIN" ] || { echo "run.sh: $WARDEN_BIN is missing: build first (dotnet build -c Release)" >&2; exit 1; }
if [ ! -x /usr/bin/chromium ]; then
  [ "$(id -u)" -eq 0 ] || { echo "run.sh: /usr/bin/chromium is missing; run: sudo apt-get install -y chromium" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends chromium >/dev/null \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
fi
if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/@xterm/xterm ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
export WARDEN_URL="http://127.0.0.1:$port" WARDEN_TOKEN="terminal-test-token-$$"
log="$(mktemp)"
# A state directory of its own (one Warden process per state directory), traversable by the sandboxes' uids, and a
# user uid range of its own so that no other installation on this host runs a user under the same uid.
state="$(mktemp -d)"
chmod 0711 "$state"
WARDEN_BACKEND="${WARDEN_TEST_BACKEND:-bwrap}" WARDEN_STATE_DIR="$state" WARDEN_URLS="$WARDEN_URL" WARDEN_API_KEY="$WARDEN_TOKEN" \
  WARDEN_USER_UID_BASE="$((700000 + ($$ % 1000) * 100))" "$WARDEN_BIN" serve >"$log" 2>&1 &
server=$!
stop() {
  kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -f "$log"
  # Never delete through a home still mounted (a server that could not unmount): leave it for `warden doctor` to name.
  grep -q " $state/" /proc/self/mountinfo || rm -rf "$state"
}
trap stop EXIT
for _ in $(seq 1 300); do
  curl -fsS "$WARDEN_URL/api/v1/health" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "run.sh: warden serve exited:"; cat "$log"; exit 1; }
  sleep 0.2
done
node --test --test-concurrency=1 test/
