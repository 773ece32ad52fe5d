#!/usr/bin/env bash
# Native AOT check: publishes `warden` as one native binary with the trim and AOT analyzers' warnings as errors (in the
# compiler and in ILC), then runs the binary itself: `warden self-test` on bubblewrap and one request to a served
# `warden serve`. Prints what it measured: publish time, binary size, start to healthy, idle RSS.
# Needs a C toolchain for ILC's link step (gcc is taken when clang is absent) and zlib's static library.
#   scripts/check-aot.sh                  # as test.sh runs it (counted as one check)
#   AOT_OUT=/tmp/warden-aot scripts/check-aot.sh
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${AOT_OUT:-$repo/.warden/aot}"
state="$(mktemp -d /tmp/warden-aot-state.XXXXXX)"
log="$(mktemp /tmp/warden-aot-serve.XXXXXX)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$state" "$log"
}
trap cleanup EXIT
say() { printf 'aot: %s\n' "$*"; }

missing=()
command -v clang >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || missing+=(gcc)
[ -e /usr/lib/x86_64-linux-gnu/libz.a ] || [ -e /usr/lib/aarch64-linux-gnu/libz.a ] || missing+=(zlib1g-dev)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then say "missing ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

case "$(uname -m)" in x86_64) rid=linux-x64 ;; aarch64) rid=linux-arm64 ;; *) say "no Native AOT target for $(uname -m)" >&2; exit 1 ;; esac
mkdir -p "$(dirname "$out")"
start=$SECONDS
# TreatWarningsAsErrors (Directory.Build.props) and IlcTreatWarningsAsErrors (Warden.Cli.csproj) make any IL2xxx/IL3xxx fail.
# The lock files carry linux-x64 only (RuntimeIdentifiers in the csproj files): another target restores unlocked.
locked=(); [ "$rid" = linux-x64 ] || locked=(-p:RestoreLockedMode=false)
if ! nice -n 10 dotnet publish "$repo/src/Warden.Cli/Warden.Cli.csproj" -c Release -r "$rid" -o "$out" -nologo -v quiet "${locked[@]}" \
    -clp:ErrorsOnly >"$out.log" 2>&1; then
  cat "$out.log" >&2
  say "publish failed" >&2
  exit 1
fi
publish_s=$((SECONDS - start))
size=$(stat -c %s "$out/warden")
say "published in ${publish_s} s: $out/warden, $((size / 1024 / 1024)) MiB"
# A native binary: no managed entry assembly next to it, no .NET runtime needed.
[ ! -e "$out/warden.dll" ] || { say "warden.dll next to the binary: not a native publish" >&2; exit 1; }
[ -x "$out/warden-exec" ] || { say "warden-exec missing from the publish" >&2; exit 1; }

# The binary's own checks, on real sandboxes.
WARDEN_STATE_DIR="$state" "$out/warden" self-test --backend bwrap

# One served request. The port is picked by the kernel, then given to the server.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
t0=$(date +%s%N)
WARDEN_STATE_DIR="$state" WARDEN_URLS="http://127.0.0.1:$port" "$out/warden" serve >"$log" 2>&1 &
pid=$!
healthy=""
for _ in $(seq 1 400); do
  if curl -fsS --max-time 1 -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; then healthy=$(( ($(date +%s%N) - t0) / 1000000 )); break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.005
done
[ -n "$healthy" ] || { cat "$log" >&2; say "warden serve did not become healthy" >&2; exit 1; }
body=$(curl -fsS --max-time 30 "http://127.0.0.1:$port/api/v1/execute" -H 'Content-Type: application/json' \
  -d '{"language":"python","code":"print(6*7)"}')
python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert r["status"]=="success" and r["stdout"]=="42\n", r' "$body" \
  || { say "unexpected result: $body" >&2; exit 1; }
# A bad request is a problem+json 400, never a 500: the error path serializes through the generated contexts too.
code=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/execute" -H 'Content-Type: application/json' -d '{"language":1}')
[ "$code" = 400 ] || { say "bad request answered $code" >&2; exit 1; }
sleep 2
rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
say "start to healthy ${healthy} ms; idle RSS after one request $((rss_kb / 1024)) MiB"
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true
pid=""
say "ok"
