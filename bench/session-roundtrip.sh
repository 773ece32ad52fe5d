#!/usr/bin/env bash
# A session cell's round trip per backend: create a python session, run `print(1)` in it, delete it — what a client
# that keeps no session pays per call — over the native API of one `warden serve` per backend, one after another.
# Prints median and p95 of the whole round trip and of each step.
# Usage: bench/session-roundtrip.sh [--runs N] BACKEND...   (e.g. bwrap docker; needs root and what each backend needs)
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
runs=30
[ "${1:-}" = "--runs" ] && { runs="$2"; shift 2; }
[ $# -gt 0 ] || set -- bwrap
warden="${WARDEN_BIN:-$repo/src/Warden.Cli/bin/Release/net10.0/warden}"
[ -x "$warden" ] || { echo "session-roundtrip.sh: $warden is missing: build first (dotnet build -c Release)" >&2; exit 1; }
tmp="$(mktemp -d)"
server=""
state=""
cleanup() { [ -n "$server" ] && { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; }; rm -rf "$tmp" "$state"; }
trap cleanup EXIT
port=18190
for backend in "$@"; do
  state="$(mktemp -d)"
  WARDEN_STATE_DIR="$state" WARDEN_URLS="http://127.0.0.1:$port" WARDEN_MAX_CONCURRENT=2 "$warden" serve --backend "$backend" > "$tmp/$backend.log" 2>&1 &
  server=$!
  for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$port/api/v1/health" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fsS "http://127.0.0.1:$port/api/v1/health" >/dev/null || { echo "warden serve --backend $backend did not start:" >&2; cat "$tmp/$backend.log" >&2; exit 1; }
  python3 - "$backend" "http://127.0.0.1:$port" "$runs" <<'PY'
import json, statistics, sys, time, urllib.request
backend, base, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        text = r.read()
        return json.loads(text) if text else None
steps = {"create": [], "cell": [], "delete": [], "round trip": []}
for i in range(runs + 3):
    t0 = time.perf_counter()
    session = call("POST", "/api/v1/sessions", {"language": "python"})
    t1 = time.perf_counter()
    result = call("POST", f"/api/v1/sessions/{session['id']}/execute", {"code": "print(1)"})
    t2 = time.perf_counter()
    call("DELETE", f"/api/v1/sessions/{session['id']}")
    t3 = time.perf_counter()
    assert result["status"] == "success" and result["stdout"] == "1\n", result
    if i < 3: continue  # warm-up
    for name, ms in [("create", t1 - t0), ("cell", t2 - t1), ("delete", t3 - t2), ("round trip", t3 - t0)]:
        steps[name].append(ms * 1000)
def p95(v): v = sorted(v); return v[min(len(v) - 1, int(0.95 * len(v)))]
print(f"{backend}: " + ", ".join(f"{k} p50 {statistics.median(v):.0f} ms p95 {p95(v):.0f} ms" for k, v in steps.items()) + f" ({runs} runs)")
PY
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
  rm -rf "$state"; state=""
done
