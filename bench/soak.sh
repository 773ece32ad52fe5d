#!/usr/bin/env bash
# The soak of issue 21: one `warden serve` with default settings (an API key, so the terminal surface is on) driven at
# saturation for a while by a mix of native executes (python/javascript/bash, and limit breakers: memory, timeout,
# output flood, fork bomb), native sessions (create, two cells, delete), Jupyter kernels (create, a cell over the
# WebSocket, delete) and Open Terminal commands (four users). Reports lost requests (an error that is not a 503/429
# refusal, or a wrong result), p50/p99 per kind per minute, the server's RSS every 10 s, and what is left on the host
# once the server has stopped (processes under sandbox uids, cgroups, mounts, state directories, docker containers).
# Usage: bench/soak.sh [--duration SECONDS] [--workers N] [--backend B] [--out FILE]
#        (defaults: 600 s, 6 workers, the default backend, bench/SOAK.md; needs root)
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
duration=600 workers=6 backend= out="$repo/bench/SOAK.md"
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --backend) backend="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
warden="${WARDEN_BIN:-$repo/src/Warden.Cli/bin/Release/net10.0/warden}"
tmp="$(mktemp -d)"
chmod 0711 "$tmp"
state="${WARDEN_STATE_DIR:-$tmp/state}"
mkdir -p "$state"
port=18790
url="http://127.0.0.1:$port"
key="soak-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
server=
stop_server() { if [ -n "$server" ]; then kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; server=; fi; }
trap 'stop_server; rm -rf "$tmp"' EXIT

containers() {  # Warden's docker containers (the daemon is shared: compared before and after)
  if curl -fsS --unix-socket /var/run/docker.sock http://docker/_ping >/dev/null 2>&1; then
    curl -fsS --unix-socket /var/run/docker.sock 'http://docker/containers/json?all=true' | python3 -c \
      'import json,sys; [print("container", c["Names"][0]) for c in json.load(sys.stdin) if any(k.startswith("dev.warden") for k in (c.get("Labels") or {}))]'
  fi
}
leftovers() (  # $1 = the server's pid: its backend instance's cgroups are warden/{pid}-*; processes in them; mounts under its state dir
  set +e +o pipefail   # an empty match is an answer, not a failure
  find /sys/fs/cgroup -maxdepth 3 -path "*/warden/$1-*" -type d 2>/dev/null | sed 's|^|cgroup |' | sort
  grep -l "/warden/$1-" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3 | while read -r p; do echo "process $p $(cat /proc/$p/comm 2>/dev/null)"; done
  grep -F " $state" /proc/self/mountinfo | awk '{print "mount", $5}' | sort
  comm -13 "$tmp/containers-before" <(containers | sort)
)
containers | sort > "$tmp/containers-before"

args=(serve)
[ -n "$backend" ] && args+=(--backend "$backend")
if curl -fsS "$url/api/v1/health" >/dev/null 2>&1; then echo "soak.sh: something already answers on $url" >&2; exit 1; fi
WARDEN_STATE_DIR="$state" WARDEN_URLS="$url" WARDEN_API_KEY="$key" "$warden" "${args[@]}" > "$tmp/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 600); do curl -fsS "$url/api/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$url/api/v1/health" >/dev/null || { echo "soak.sh: warden serve did not start" >&2; tail -20 "$tmp/serve.log" >&2; exit 1; }

python3 - "$url" "$key" "$server" "$duration" "$workers" "$tmp/report.md" <<'PY'
import base64, json, os, random, socket, statistics, sys, threading, time, urllib.error, urllib.request, uuid
base, key, pid, duration, workers, report = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
H = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
class Refused(Exception): pass
def call(method, path, body=None, headers=None, timeout=120):
    req = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(), method=method, headers={**H, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read()
            return json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        if e.code in (429, 503): raise Refused(str(e.code))
        raise AssertionError(f"{method} {path}: HTTP {e.code} {e.read()[:300]!r}")
def execute(language, code, status="success", limits=None, stdout=None):
    out = call("POST", "/api/v1/execute", {"language": language, "code": code, **(limits or {})})
    assert out["status"] == status, (status, out["status"], out.get("error"))
    if stdout is not None: assert out["stdout"] == stdout, out["stdout"][:200]
def native():
    lang, code = random.choice([("python", "print(1)"), ("javascript", "console.log(1)"), ("bash", "echo 1")])
    execute(lang, code, stdout="1\n")
BREAKERS = [
    ("python", "x = bytearray(1 << 30)", "memory_limit", {"memory_mb": 64}),
    ("python", "while True: pass", "timeout", {"timeout": 1}),
    ("python", "import sys\nwhile True: sys.stdout.write('x' * 65536)", "output_limit", None),
    ("bash", ":(){ :|:& };:; sleep 5", None, {"timeout": 2}),
]
def breaker():
    lang, code, status, limits = random.choice(BREAKERS)
    out = call("POST", "/api/v1/execute", {"language": lang, "code": code, **(limits or {})})
    assert out["status"] != "success" and (status is None or out["status"] == status), (status, out["status"])
def session():
    s = call("POST", "/api/v1/sessions", {"language": "python"})
    try:
        call("POST", f"/api/v1/sessions/{s['id']}/execute", {"code": "x = 41"})
        r = call("POST", f"/api/v1/sessions/{s['id']}/execute", {"code": "print(x + 1)"})
        assert "42" in json.dumps(r), r
    finally:
        call("DELETE", f"/api/v1/sessions/{s['id']}")
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
        if not chunk: raise AssertionError("websocket closed")
        buf += chunk
def jupyter():
    kernel = call("POST", "/api/kernels", {"name": "python3"})
    try:
        host, port = base.split("//")[1].split(":")
        sock = socket.create_connection((host, int(port)), timeout=120)
        sock.sendall((f"GET /api/kernels/{kernel['id']}/channels HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Authorization: token {key}\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf: buf += sock.recv(4096)
        assert buf.startswith(b"HTTP/1.1 101"), buf[:200]
        buf = buf.split(b"\r\n\r\n", 1)[1]
        mid = uuid.uuid4().hex
        sock.sendall(ws_frame(json.dumps({"header": {"msg_id": mid, "msg_type": "execute_request", "username": "soak", "session": uuid.uuid4().hex,
            "version": "5.3", "date": ""}, "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": "print(6 * 7)", "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False}}).encode()))
        out, done = "", False
        while not done:
            op, payload, buf = ws_read(sock, buf)
            if op != 1: continue
            m = json.loads(payload)
            if m.get("parent_header", {}).get("msg_id") != mid: continue
            if m["header"]["msg_type"] == "stream": out += m["content"]["text"]
            done = m["header"]["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
        sock.close()
        assert out == "42\n", out
    finally:
        call("DELETE", f"/api/kernels/{kernel['id']}")
def terminal():
    user = f"soak-user-{random.randrange(4)}"
    r = call("POST", "/terminal/execute?wait=20", {"command": "echo $((6 * 7)) && ls ~ >/dev/null"}, {"X-User-Id": user})
    assert "42" in json.dumps(r), r
KINDS = [("native", native, 50), ("breaker", breaker, 10), ("session", session, 15), ("jupyter", jupyter, 15), ("terminal", terminal, 10)]
records, rss, lock = [], [], threading.Lock()
start = time.time(); end = start + duration
def worker():
    rng = random.Random()
    while time.time() < end:
        name, f, _ = rng.choices(KINDS, weights=[k[2] for k in KINDS])[0]
        t = time.time(); outcome = "ok"; detail = ""
        try: f()
        except Refused as e: outcome, detail = "refused", str(e)
        except Exception as e: outcome, detail = "lost", f"{type(e).__name__}: {e}"[:300]
        with lock: records.append((t - start, name, (time.time() - t) * 1000, outcome, detail))
def sampler():
    while time.time() < end:
        try: rss.append((time.time() - start, int(next(l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")).split()[1]) // 1024))
        except (OSError, StopIteration): rss.append((time.time() - start, -1))
        time.sleep(10)
threads = [threading.Thread(target=worker) for _ in range(workers)] + [threading.Thread(target=sampler)]
for t in threads: t.start()
for t in threads: t.join()
def pct(v, q): v = sorted(v); return v[min(len(v) - 1, int(len(v) * q))] if v else float("nan")
lines = [f"{len(records)} operations in {duration} s with {workers} workers: "
         f"{sum(r[3] == 'ok' for r in records)} ok, {sum(r[3] == 'refused' for r in records)} refused (503/429), "
         f"**{sum(r[3] == 'lost' for r in records)} lost**.", "",
         "| minute | kind | n | p50 ms | p99 ms | refused | lost |", "|---|---|---|---|---|---|---|"]
for minute in range(0, (duration + 59) // 60):
    for name, _, _ in KINDS:
        rs = [r for r in records if int(r[0] // 60) == minute and r[1] == name]
        ok = [r[2] for r in rs if r[3] == "ok"]
        lines.append(f"| {minute} | {name} | {len(rs)} | {pct(ok, .5):.0f} | {pct(ok, .99):.0f} | {sum(r[3] == 'refused' for r in rs)} | {sum(r[3] == 'lost' for r in rs)} |")
lines += ["", "Server RSS (MB) every 10 s: " + ", ".join(f"{m}" for _, m in rss), ""]
lost = [r for r in records if r[3] == "lost"]
if lost: lines += ["Lost requests (first 20):", ""] + [f"- {r[0]:.0f} s {r[1]}: {r[4]}" for r in lost[:20]] + [""]
open(report, "w").write("\n".join(lines) + "\n")
PY
pid="$server"
stop_server
sleep 2
leftovers "$pid" > "$tmp/left"
{
  echo "# Soak: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$repo" rev-parse --short HEAD)"
  echo
  echo "\`bench/soak.sh --duration $duration --workers $workers${backend:+ --backend $backend}\`; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  cat "$tmp/report.md"
  echo "Leftovers 2 s after the server stopped (its instance's cgroups and their processes, mounts under its state directory,"
  echo "Warden containers that were not there before):"
  echo
  if [ -s "$tmp/left" ]; then sed 's/^/    /' "$tmp/left"; else echo "none"; fi
} > "$out"
cat "$out"
