#!/usr/bin/env bash
# A session's cell round trip per backend: create a python session, run print(1), delete it; over the native API with
# curl against `warden serve --backend B`, backends interleaved run by run. Prints p50/p90/min per backend in ms.
# Usage: bench/session-backends.sh [--runs N] [backend ...]   (default: 20 runs; bwrap gvisor; needs root)
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
runs=20
[ "${1:-}" = "--runs" ] && { runs="$2"; shift 2; }
backends=("$@")
[ ${#backends[@]} -eq 0 ] && backends=(bwrap gvisor)
warden="${WARDEN_BIN:-$repo/src/Warden.Cli/bin/Release/net10.0/warden}"
tmp="$(mktemp -d)"
chmod 0711 "$tmp"   # the state directories inside must be traversable by the sandboxes' uids
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

declare -A url
port=18600
for b in "${backends[@]}"; do
  port=$((port + 1)); url[$b]="http://127.0.0.1:$port"
  # Each server a state directory of its own: a second Warden process on one refuses to start.
  mkdir -p "$tmp/state-$b"
  WARDEN_STATE_DIR="$tmp/state-$b" WARDEN_URLS="${url[$b]}" WARDEN_MAX_CONCURRENT=1 "$warden" serve --backend "$b" > "$tmp/$b.log" 2>&1 &
  pids+=($!)
  up=
  for _ in $(seq 1 600); do curl -fsS "${url[$b]}/api/v1/health" >/dev/null 2>&1 && { up=1; break; }; sleep 0.2; done
  [ -n "$up" ] || { echo "session-backends.sh: warden serve --backend $b did not start:" >&2; tail -20 "$tmp/$b.log" >&2; exit 1; }
done

round_trip() { # url -> ms
  local start end id out
  start=$(date +%s%N)
  id=$(curl -fsS "$1/api/v1/sessions" -H 'Content-Type: application/json' -d '{"language":"python"}' | sed -E 's/.*"id":"([^"]+)".*/\1/')
  out=$(curl -fsS "$1/api/v1/sessions/$id/execute" -H 'Content-Type: application/json' -d '{"code":"print(1)"}')
  curl -fsS -X DELETE "$1/api/v1/sessions/$id" >/dev/null
  end=$(date +%s%N)
  case "$out" in *'"stdout":"1\n"'*) ;; *) echo "session-backends.sh: unexpected cell result: $out" >&2; exit 1 ;; esac
  echo $(( (end - start) / 1000000 ))
}

for b in "${backends[@]}"; do round_trip "${url[$b]}" >/dev/null; done   # warm-up: first kernel, first support files
for _ in $(seq 1 "$runs"); do
  for b in "${backends[@]}"; do round_trip "${url[$b]}" >> "$tmp/$b.ms"; done
done
for b in "${backends[@]}"; do
  sort -n "$tmp/$b.ms" | awk -v b="$b" '{ v[NR] = $1 } END { printf "%-7s runs %d  p50 %d ms  p90 %d ms  min %d ms\n", b, NR, v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)], v[1] }'
done
