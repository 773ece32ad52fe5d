#!/usr/bin/env bash
# Keystroke echo round trip of an interactive terminal (a PTY in the user's sandbox, over open-terminal's WebSocket) per
# backend, next to a bare PTY on this host (`script` + `bash -i`), interleaved round by round (terminal-echo.mjs).
# One `warden serve --backend B` each, on loopback, with an API key. Prints p50/p95/max per target.
# Usage: bench/terminal-echo.sh [--rounds N] [backend ...]   (default: 30 rounds of 10 keys; bwrap; needs root)
# Needs node and tests/terminal-client's packages (npm ci there; this script runs it when they are missing).
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
rounds=30
[ "${1:-}" = "--rounds" ] && { rounds="$2"; shift 2; }
backends=("$@")
[ ${#backends[@]} -eq 0 ] && backends=(bwrap)
warden="${WARDEN_BIN:-$repo/src/Warden.Cli/bin/Release/net10.0/warden}"
[ -x "$warden" ] || { echo "terminal-echo.sh: $warden is missing: build first" >&2; exit 1; }
[ -d "$repo/tests/terminal-client/node_modules/ws" ] || (cd "$repo/tests/terminal-client" && npm ci --no-audit --no-fund --loglevel=error)
key="echo-bench-$$-$RANDOM"
tmp="$(mktemp -d)"
chmod 0711 "$tmp"   # the state directories inside must be traversable by the sandboxes' uids
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
  # Never delete through a home still mounted (a server that could not unmount).
  grep -q " $tmp/" /proc/self/mountinfo || rm -rf "$tmp"
}
trap cleanup EXIT

args=()
port=18700
uidbase=$((720000 + ($$ % 100) * 100))
for b in "${backends[@]}"; do
  port=$((port + 1)); uidbase=$((uidbase + 10000))
  url="http://127.0.0.1:$port"
  mkdir -p "$tmp/state-$b"
  WARDEN_STATE_DIR="$tmp/state-$b" WARDEN_URLS="$url" WARDEN_API_KEY="$key" WARDEN_USER_UID_BASE="$uidbase" \
    "$warden" serve --backend "$b" > "$tmp/$b.log" 2>&1 &
  pids+=($!)
  up=
  for _ in $(seq 1 600); do curl -fsS "$url/api/v1/health" >/dev/null 2>&1 && { up=1; break; }; sleep 0.2; done
  [ -n "$up" ] || { echo "terminal-echo.sh: warden serve --backend $b did not start:" >&2; tail -20 "$tmp/$b.log" >&2; exit 1; }
  args+=("$b=$url")
done
node "$repo/bench/terminal-echo.mjs" "$rounds" "$key" "${args[@]}"
