#!/usr/bin/env bash
# A session's cell round trip per backend: create a python session, run print(1), delete it — what a client that keeps
# no session pays per call — over the native API of one `warden serve --backend B` each, backends and the bare
# interpreter (python3 -c 'print(1)') interleaved run by run, so a noisy machine shifts them all alike. Prints p50/p95
# of each step and of the round trip per backend, and the bare interpreter's start in the same run.
# Usage: bench/session-backends.sh [--runs N] [backend ...]   (default: 20 runs; bwrap gvisor docker; needs root)
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
runs=20
[ "${1:-}" = "--runs" ] && { runs="$2"; shift 2; }
backends=("$@")
[ ${#backends[@]} -eq 0 ] && backends=(bwrap gvisor docker)
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

args=()
for b in "${backends[@]}"; do args+=("$b=${url[$b]}"); done
python3 - "$runs" "${args[@]}" <<'PY'
import json, statistics, subprocess, sys, time, urllib.request
runs, targets = int(sys.argv[1]), [a.split("=", 1) for a in sys.argv[2:]]
def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        text = r.read()
        return json.loads(text) if text else None
def round_trip(base):
    t0 = time.perf_counter()
    session = call(base, "POST", "/api/v1/sessions", {"language": "python"})
    t1 = time.perf_counter()
    result = call(base, "POST", f"/api/v1/sessions/{session['id']}/execute", {"code": "print(1)"})
    t2 = time.perf_counter()
    call(base, "DELETE", f"/api/v1/sessions/{session['id']}")
    t3 = time.perf_counter()
    assert result["status"] == "success" and result["stdout"] == "1\n", result
    return {"create": t1 - t0, "cell": t2 - t1, "delete": t3 - t2, "round trip": t3 - t0}
def bare():
    t0 = time.perf_counter()
    subprocess.run(["/usr/bin/python3", "-c", "print(1)"], check=True, stdout=subprocess.DEVNULL, env={})
    return time.perf_counter() - t0
for _, base in targets: round_trip(base)  # warm-up: the first kernel, the first support files
steps = {b: {} for b, _ in targets}
bare_ms = []
for _ in range(runs):
    bare_ms.append(bare() * 1000)
    for b, base in targets:
        for k, v in round_trip(base).items(): steps[b].setdefault(k, []).append(v * 1000)
def p(v, q): v = sorted(v); return v[min(len(v) - 1, int(q * len(v)))]
print(f"bare python3 -c 'print(1)': p50 {statistics.median(bare_ms):.1f} ms p95 {p(bare_ms, 0.95):.1f} ms ({runs} runs)")
for b, _ in targets:
    print(f"{b:7} " + ", ".join(f"{k} p50 {statistics.median(v):.0f} p95 {p(v, 0.95):.0f}" for k, v in steps[b].items()) + " (ms)")
PY
