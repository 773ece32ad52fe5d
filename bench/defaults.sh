#!/usr/bin/env bash
# What a user gets with no settings (issue 21), in one run against the bare interpreter and raw bwrap:
#   bare      /usr/bin/python3 -c 'print(1)', clean env            raw bwrap  the same under `bwrap --ro-bind / / --unshare-all`
#   http      `warden serve` defaults, POST /api/v1/execute print(1), one call every ~0.6 s
#   jupyter   Open WebUI's per-call flow: POST /api/kernels, execute_request over the WebSocket, DELETE the kernel
#   run       `warden run hello.py` handed to the running `warden serve` (same state directory, its socket), and
#             in-process (a state directory no server runs on: the CLI starts its own sandbox)
#   healthy   start of `warden serve` to the first 200 from /api/v1/health;  idle RSS of the server after the runs
# Latency rows run quiet, then again while two unrelated busy processes load both cores (nice 0, like any host job).
# Usage: bench/defaults.sh [--runs N]   (default 20; needs root, bwrap, a Release build)
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
runs=20
[ "${1:-}" = "--runs" ] && { runs="$2"; shift 2; }
warden="${WARDEN_BIN:-$repo/src/Warden.Cli/bin/Release/net10.0/warden}"
tmp="$(mktemp -d)"
chmod 0711 "$tmp"
state="${WARDEN_STATE_DIR:-$tmp/state}"
mkdir -p "$state"
server=
busy=()
stop_busy() { for p in "${busy[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done; busy=(); }
stop_server() { if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; server=; fi; }
cleanup() { stop_busy; stop_server; rm -rf "$tmp"; }
trap cleanup EXIT
echo 'print(1)' > "$tmp/hello.py"
chmod 0644 "$tmp/hello.py"
port=18690
url="http://127.0.0.1:$port"

start_server() {  # sets $server; the milliseconds to the first healthy answer go to $tmp/healthy-ms
  local t0 t1
  t0=$(date +%s%N)
  WARDEN_STATE_DIR="$state" WARDEN_URLS="$url" "$warden" serve > "$tmp/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 1 3000); do
    if curl -fsS "$url/api/v1/health" >/dev/null 2>&1; then
      t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)) > "$tmp/healthy-ms"; return 0
    fi
    sleep 0.005
  done
  echo "defaults.sh: warden serve did not start:" >&2; tail -20 "$tmp/serve.log" >&2; exit 1
}

if curl -fsS "$url/api/v1/health" >/dev/null 2>&1; then echo "defaults.sh: something already answers on $url" >&2; exit 1; fi
healthy=()
for _ in 1 2 3; do start_server; healthy+=("$(cat "$tmp/healthy-ms")"); stop_server; done
start_server
sleep 5   # the warm pool and the warm kernel fill, as on a server that has been up a while

measure() {  # $1 = label
  python3 - "$1" "$runs" "$url" "$warden" "$tmp/hello.py" "$tmp/state-run" "$state" <<'PY'
import base64, json, os, socket, statistics, subprocess, sys, time, urllib.request, uuid
label, runs, base, warden, hello, run_state, serve_state = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
clean = {"PATH": "/usr/bin:/bin"}
def bare():
    t = time.perf_counter(); subprocess.run(["/usr/bin/python3", "-c", "print(1)"], env=clean, check=True, capture_output=True); return time.perf_counter() - t
def raw_bwrap():
    t = time.perf_counter()
    subprocess.run(["/usr/bin/bwrap", "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "/usr/bin/python3", "-c", "print(1)"],
                   env=clean, check=True, capture_output=True)
    return time.perf_counter() - t
def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        text = r.read()
        return json.loads(text) if text else None
def http():
    t = time.perf_counter(); out = call("POST", "/api/v1/execute", {"language": "python", "code": "print(1)"}); d = time.perf_counter() - t
    assert out["stdout"] == "1\n", out
    return d
def ws_frame(payload):
    mask = os.urandom(4); n = len(payload)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
def ws_read(sock, buf):
    while True:
        if len(buf) >= 2:
            n, off = buf[1] & 0x7F, 2
            if n == 126: n, off = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127: n, off = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) >= off + n: return buf[0] & 0x0F, buf[off:off + n], buf[off + n:]
        chunk = sock.recv(65536)
        if not chunk: raise EOFError("websocket closed")
        buf += chunk
def jupyter():
    t = time.perf_counter()
    kernel = call("POST", "/api/kernels", {"name": "python3"})
    host, port = base.split("//")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /api/kernels/{kernel['id']}/channels HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf: buf += sock.recv(4096)
    assert buf.startswith(b"HTTP/1.1 101"), buf[:200]
    buf = buf.split(b"\r\n\r\n", 1)[1]
    msg_id = uuid.uuid4().hex
    msg = {"header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "bench", "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
           "parent_header": {}, "metadata": {}, "channel": "shell",
           "content": {"code": "print(1)", "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}
    sock.sendall(ws_frame(json.dumps(msg).encode()))
    out, reply, idle = "", False, False
    while not (reply and idle):
        op, payload, buf = ws_read(sock, buf)
        if op != 1: continue
        m = json.loads(payload)
        if m.get("parent_header", {}).get("msg_id") != msg_id: continue
        kind = m["header"]["msg_type"]
        if kind == "stream": out += m["content"]["text"]
        elif kind == "execute_reply": reply = True
        elif kind == "status" and m["content"]["execution_state"] == "idle": idle = True
    sock.close()
    call("DELETE", f"/api/kernels/{kernel['id']}")
    d = time.perf_counter() - t
    assert out == "1\n", out
    return d
def run_cli(state=run_state):
    t = time.perf_counter()
    p = subprocess.run([warden, "run", hello], env={"PATH": "/usr/bin:/bin", "WARDEN_STATE_DIR": state,
                        "DOTNET_ROOT": os.environ.get("DOTNET_ROOT", "/usr/share/dotnet")}, capture_output=True, text=True)
    d = time.perf_counter() - t
    assert p.stdout == "1\n", (p.stdout, p.stderr)
    return d
def run_handed():
    return run_cli(serve_state)
rows = {"bare python3": bare, "raw bwrap python3": raw_bwrap, "warden serve, HTTP execute": http,
        "Jupyter create + cell over WS + delete": jupyter, "warden run hello.py (in-process)": run_cli,
        "warden run hello.py (handed to serve)": run_handed}
samples = {k: [] for k in rows}
for name, f in rows.items(): f()  # warm-up
for i in range(runs):
    for name, f in rows.items():
        if name == "warden run hello.py (in-process)" and i % 4: continue   # the slowest row: a quarter of the rounds
        samples[name].append(f() * 1000)
        time.sleep(0.6 if name.startswith("warden serve") or name.startswith("Jupyter") else 0)
print(f"\n### {label}\n\n| row | p50 ms | p90 ms | n | ratio to bare | ratio to raw bwrap |\n|---|---|---|---|---|---|")
b = statistics.median(samples["bare python3"])
rb = statistics.median(samples["raw bwrap python3"])
for name, s in samples.items():
    s.sort(); p50 = statistics.median(s); p90 = s[min(len(s) - 1, int(len(s) * 0.9))]
    print(f"| {name} | {p50:.1f} | {p90:.1f} | {len(s)} | {p50 / b:.2f} | {p50 / rb:.2f} |")
PY
}

measure "quiet host"
for _ in 1 2; do ( while :; do :; done ) & busy+=($!); done
measure "two busy processes loading both cores"
stop_busy
sleep 3
rss=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
echo
echo "start to healthy (ms, three starts): ${healthy[*]}"
echo "warden serve idle RSS: $((rss / 1024)) MB"
