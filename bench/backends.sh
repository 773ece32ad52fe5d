#!/usr/bin/env bash
# The backends benchmark: each isolation backend's cold latency next to its raw tool, in one run, for python print(1).
#   raw runsc:   runsc --network=none do /usr/bin/python3 -c 'print(1)'
#   raw docker:  docker run --rm --network none IMAGE python3 -c 'print(1)'
#   Warden:      POST /api/v1/execute to `warden serve --backend B` (curl; a keep-alive-free request, as a client would)
# Targets: gvisor <= 1.2x raw runsc, docker <= 1.1x raw docker run. Writes bench/RESULTS-backends.md.
# Usage: bench/backends.sh [--runs N]   (needs root, runsc, a running dockerd with the runtime image, hyperfine)
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
runs=30
[ "${1:-}" = "--runs" ] && runs="$2"
out="$repo/bench/RESULTS-backends.md"
warden="$repo/.warden/bin/warden"
"$repo/warden" --help >/dev/null   # builds .warden/bin when sources changed
image="${WARDEN_DOCKER__IMAGE:-warden-runtime:latest}"
docker_cli="$(command -v /usr/bin/docker || command -v docker)"
tmp="$(mktemp -d)"
pids=()
states=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp" "${states[@]}"; }
trap cleanup EXIT

start_server() { # backend port
  # Each server a state directory of its own: a second Warden process on one refuses to start.
  local state; state="$(mktemp -d)"; states+=("$state")
  WARDEN_STATE_DIR="$state" WARDEN_URLS="http://127.0.0.1:$2" WARDEN_MAX_CONCURRENT=2 "$warden" serve --backend "$1" > "$tmp/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$2/api/v1/health" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "backends.sh: warden serve --backend $1 did not start:" >&2; cat "$tmp/$1.log" >&2; exit 1
}
start_server bwrap 18181
start_server gvisor 18182
start_server docker 18183
body='{"language":"python","code":"print(1)"}'
req() { echo "curl -fsS -o /dev/null -H 'Content-Type: application/json' -d '$body' http://127.0.0.1:$1/api/v1/execute"; }

hyperfine -N --warmup 3 --runs "$runs" --export-json "$tmp/h.json" \
  -n "bare python3" "/usr/bin/python3 -c 'print(1)'" \
  -n "warden bwrap (HTTP)" "$(req 18181)" \
  -n "raw runsc do" "runsc --root $tmp/runsc --network=none --platform=ptrace do /usr/bin/python3 -c 'print(1)'" \
  -n "warden gvisor (HTTP)" "$(req 18182)" \
  -n "raw docker run --rm" "$docker_cli run --rm --network none $image /usr/bin/python3 -c 'print(1)'" \
  -n "warden docker (HTTP)" "$(req 18183)" > "$tmp/hyperfine.txt"

python3 - "$tmp/h.json" "$out" "$runs" <<'PY'
import json, sys, statistics, datetime, os, platform
data = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
def med(name): return statistics.median(data[name]["times"]) * 1000
def p95(name):
    t = sorted(data[name]["times"]); return t[min(len(t) - 1, int(0.95 * len(t)))] * 1000
rows = [("bare python3", None), ("warden bwrap (HTTP)", "bare python3"), ("raw runsc do", None), ("warden gvisor (HTTP)", "raw runsc do"),
        ("raw docker run --rm", None), ("warden docker (HTTP)", "raw docker run --rm")]
load = open("/proc/loadavg").read().split()[:3]
lines = [f"# Backends next to their raw tools", "",
         f"Run {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, kernel {platform.release()}, load average {' '.join(load)}; "
         f"hyperfine, {sys.argv[3]} runs each after 3 warm-ups, python `print(1)`. `bench/backends.sh` regenerates this file.", "",
         "| command | median ms | p95 ms | ratio to its raw tool |", "|---|---:|---:|---:|"]
for name, base in rows:
    ratio = f"{med(name) / med(base):.2f}×" if base else ""
    lines.append(f"| {name} | {med(name):.1f} | {p95(name):.1f} | {ratio} |")
g = med("warden gvisor (HTTP)") / med("raw runsc do"); d = med("warden docker (HTTP)") / med("raw docker run --rm")
lines += ["", "| target | measured | |", "|---|---|---|",
          f"| gvisor ≤ 1.2× raw runsc | {g:.2f}× | {'✔' if g <= 1.2 else '✘'} |",
          f"| docker ≤ 1.1× raw docker run | {d:.2f}× | {'✔' if d <= 1.1 else '✘'} |", "",
          "Notes: Warden rows include an HTTP request from a fresh curl process (~2–5 ms). The gvisor backend starts a fresh",
          "runsc sandbox per execution (like `runsc do`); the docker backend keeps pre-started single-use containers, so a",
          "request pays for an archive upload and an exec instead of a container start. The docker CLI row includes the CLI's",
          "own start-up, as a user running `docker run` would pay it."]
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
