#!/usr/bin/env bash
# Runs the Jupyter client tests (node:test) against one real `warden serve` on a free loopback port.
# WARDEN_BIN: the warden binary (default: the Release build). Prints node's TAP summary (# pass N / # fail N / # skipped N).
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"
export WARDEN_BIN="${WARDEN_BIN:-$repo/src/Warden.Cli/bin/Release/net10.0/warden}"
[ -x "$WARDEN_BIN" ] || { echo "run.sh: $WARDEN_BIN is missing: build first (dotnet build -c Release)" >&2; exit 1; }
if [ ! -d node_modules/@jupyterlab/services ] || [ ! -d node_modules/ws ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
export WARDEN_URL="http://127.0.0.1:$port" WARDEN_TOKEN="jupyter-test-token-$$" WARDEN_PASSWORD="jupyter-test-password-$$"
log="$(mktemp)"
# A state directory of its own: one Warden process per state directory, and test files may start servers of their own.
state="$(mktemp -d)"
WARDEN_BACKEND="${WARDEN_TEST_BACKEND:-bwrap}" WARDEN_STATE_DIR="$state" WARDEN_URLS="$WARDEN_URL" WARDEN_API_KEY="$WARDEN_TOKEN" WARDEN_JUPYTER_PASSWORD="$WARDEN_PASSWORD" WARDEN_MAX_CONCURRENT=2 \
  "$WARDEN_BIN" serve >"$log" 2>&1 &
server=$!
stop() { kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; rm -f "$log"; rm -rf "$state"; }
trap stop EXIT
for _ in $(seq 1 300); do
  curl -fsS "$WARDEN_URL/api/v1/health" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "run.sh: warden serve exited:"; cat "$log"; exit 1; }
  sleep 0.2
done
node --test --test-concurrency=1 test/
