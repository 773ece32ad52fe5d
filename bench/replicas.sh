#!/usr/bin/env bash
# Throughput of 1 replica vs 3 replicas behind nginx, on one shared PostgreSQL, all on this host's loopback; writes
# bench/REPLICAS.md. Three `warden serve` replicas run throughout (same processes for both configurations): one nginx
# sends everything to r1, another round-robins over r1..r3; wrk drives stateless executions (python and bash) through
# each in turn, ROUNDS times interleaved. Then a session's cells are timed through its owner and through another
# replica (the cost of forwarding). The machine's CPU use by everything else is recorded next to each run: on a
# small shared VM it decides the numbers.
# Usage: bench/replicas.sh [SECONDS per run, default 30] [CONNECTIONS, default 16] [ROUNDS, default 2]
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
seconds="${1:-30}"; connections="${2:-16}"; rounds="${3:-2}"
pg_bin=/usr/lib/postgresql/15/bin
[ "$(id -u)" -eq 0 ] || { echo "replicas.sh: run as root (sandboxes, and PostgreSQL runs as the postgres user)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "replicas.sh: wrk is missing: apt-get install -y wrk" >&2; exit 1; }
[ -x /usr/sbin/nginx ] || { echo "replicas.sh: nginx is missing: scripts/test.d/nginx.sh" >&2; exit 1; }
[ -x "$pg_bin/initdb" ] || { echo "replicas.sh: PostgreSQL 15 is missing: scripts/test.d/postgres.sh" >&2; exit 1; }
cd "$repo"
dotnet build src/Warden.Cli -c Release -nologo -v quiet -clp:ErrorsOnly >/dev/null
warden="$repo/src/Warden.Cli/bin/Release/net10.0/warden"
work="$(mktemp -d /tmp/warden-replicas-XXXXXX)"; chmod 755 "$work"
export WARDEN_API_KEY="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- PostgreSQL: a throw-away cluster on a unix socket, as the tests use -----------------------------------------
mkdir -p "$work/pg"; chown postgres:postgres "$work/pg"
runuser -u postgres -- "$pg_bin/initdb" -D "$work/pg/data" -A trust -U postgres --no-sync >/dev/null
runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
  -o "-c listen_addresses='' -c unix_socket_directories=$work/pg -c max_connections=200 -c fsync=off" start >/dev/null
runuser -u postgres -- "$pg_bin/createdb" -h "$work/pg" -U postgres warden
database="Host=$work/pg;Username=postgres;Database=warden"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- three replicas -----------------------------------------------------------------------------------------------
declare -A port
for i in 1 2 3; do
  port[$i]=$(free_port); state="$work/r$i"; mkdir -p "$state"; chmod 755 "$state"
  env WARDEN_STATE_DIR="$state" WARDEN_URLS="http://127.0.0.1:${port[$i]}" WARDEN_DATABASE_URL="$database" \
    WARDEN_CLUSTER_REPLICA_ID="r$i" WARDEN_SANDBOX_UID_BASE=$((300000 + i * 10000)) WARDEN_SANDBOX_UID_COUNT=10000 \
    WARDEN_USER_UID_BASE=$((500000 + i * 10000)) WARDEN_MAX_QUEUE=1024 WARDEN_AUDIT_ENABLED=false \
    Logging__LogLevel__Default=Warning "$warden" serve > "$work/r$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:${port[$i]}/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:${port[$i]}/readyz" >/dev/null || { cat "$work/r$i.log"; echo "replicas.sh: r$i did not start" >&2; exit 1; }
done
slots=$(curl -sf -H "Authorization: Bearer $WARDEN_API_KEY" "http://127.0.0.1:${port[1]}/api/v1/config" | python3 -c 'import json,sys; print(json.load(sys.stdin)["max_concurrent"])')

# --- two balancers: one in front of r1 only, one round-robin over r1..r3 ------------------------------------------
start_nginx() { # name, upstream ports...; sets $listen
  local name=$1; shift; local dir="$work/nginx-$name"; mkdir -p "$dir/body" "$dir/proxy"; chmod 777 "$dir/body" "$dir/proxy"
  listen=$(free_port); local servers=""
  for p in "$@"; do servers+="    server 127.0.0.1:$p;"$'\n'; done
  cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
  upstream warden {
$servers    keepalive 64;
  }
  server {
    listen 127.0.0.1:$listen;
    location / {
      proxy_pass http://warden;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_set_header Host \$host;
      proxy_buffering off;
      proxy_read_timeout 3600s;
    }
  }
}
CONF
  /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" -g 'daemon off;' > "$dir/out.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$listen/healthz" && break; sleep 0.1; done
}
start_nginx one "${port[1]}"; one=$listen
start_nginx three "${port[1]}" "${port[2]}" "${port[3]}"; three=$listen

# --- CPU accounting: the machine's busy time and ours (replicas, nginx, PostgreSQL, wrk) ---------------------------
cpu_total() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
cpu_ours() {
  local sum=0 pid
  for pid in $( { printf '%s\n' "${pids[@]}"; pgrep -f "$work"; pgrep -x wrk; } | sort -u ); do
    [ -r "/proc/$pid/stat" ] && sum=$((sum + $(awk '{print $14+$15+$16+$17}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$sum"
}
hz=$(getconf CLK_TCK); cores=$(nproc)

rows=()
measure() { # label, url, script, connections, seconds [env]
  local label=$1 url=$2 script=$3 conns=$4 secs=$5 t0 o0 t1 o1 w0 w1 line load
  load=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(cpu_total); o0=$(cpu_ours); w0=$(date +%s%N)
  line=$(wrk -t 2 -c "$conns" -d "${secs}s" --timeout 60s -s "$script" "$url" | grep '^result:')
  t1=$(cpu_total); o1=$(cpu_ours); w1=$(date +%s%N)
  # Percent of all cores over the wall time the run really took.
  local available=$(( (w1 - w0) * hz * cores / 1000000000 ))
  local busy=$(( (t1 - t0) * 100 / available )) ours=$(( (o1 - o0) * 100 / available ))
  echo "replicas.sh: $label: $line (machine busy ${busy}%, ours ${ours}%, load $load)" >&2
  rows+=("$label|$line|$busy|$ours|$load")
}

echo "replicas.sh: ${seconds}s runs, $connections connections, $rounds rounds; $slots sandbox slots per replica, $cores cores" >&2
# Warm-up: every replica starts its interpreters once, nginx opens its upstream connections.
wrk -t 2 -c "$connections" -d 5s -s bench/replicas.lua "http://127.0.0.1:$three" >/dev/null
for round in $(seq 1 "$rounds"); do
  measure "1 replica (nginx → r1), round $round" "http://127.0.0.1:$one" bench/replicas.lua "$connections" "$seconds"
  measure "3 replicas (nginx round-robin), round $round" "http://127.0.0.1:$three" bench/replicas.lua "$connections" "$seconds"
done

# --- a session: served by its owner vs forwarded by another replica ------------------------------------------------
export SESSION
SESSION=$(curl -sf -H "Authorization: Bearer $WARDEN_API_KEY" -H 'Content-Type: application/json' \
  -d '{"language":"python"}' "http://127.0.0.1:${port[1]}/api/v1/sessions" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -sf -H "Authorization: Bearer $WARDEN_API_KEY" -H 'Content-Type: application/json' -d '{"code":"x = 41"}' \
  "http://127.0.0.1:${port[1]}/api/v1/sessions/$SESSION/execute" >/dev/null
session_rows=()
for round in $(seq 1 "$rounds"); do
  for via in 1 2; do
    line=$(wrk -t 1 -c 1 -d 10s --timeout 60s -s bench/session.lua "http://127.0.0.1:${port[$via]}" | grep '^result:')
    label=$([ "$via" = 1 ] && echo "owner r1 directly" || echo "r2, forwarded to r1")
    echo "replicas.sh: session via $label, round $round: $line" >&2
    session_rows+=("$label, round $round|$line")
  done
done

# --- the report ------------------------------------------------------------------------------------------------------
field() { sed -E "s/.*$1=([^ ]+).*/\1/" <<<"$2"; }
rate() { python3 -c "print(f'{$(field ok "$1") / $(field seconds "$1"):.1f}')"; }
{
  echo "# 1 replica vs 3 replicas behind nginx"
  echo
  echo "Written by \`bench/replicas.sh $seconds $connections $rounds\` on $(date -u +%Y-%m-%d) — $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $cores cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)."
  echo
  echo "Three \`warden serve\` replicas (bwrap backend, $slots sandbox slots each, the default 2 × cores) share one PostgreSQL 15 on"
  echo "this host; nginx 1.22 sits in front, once sending everything to r1, once round-robin over r1..r3. wrk (2 threads,"
  echo "$connections connections, ${seconds} s per run, runs interleaved) posts stateless executions, python \`print(6*7)\` and bash"
  echo "\`echo 42\` alternately, as 16 users per thread; rate limits are off. *Busy* is the whole machine's CPU use during the run,"
  echo "*ours* the part used by the replicas, nginx, PostgreSQL and wrk; the difference is other tenants of this VM."
  echo
  echo "| configuration | executions/s | per core-second of ours | ok | not ok | p50 ms | p95 ms | p99 ms | served by | machine busy | ours | load avg |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"
  for row in "${rows[@]}"; do
    IFS='|' read -r label line busy ours load <<<"$row"
    per_core=$(python3 -c "print(f'{$(rate "$line") / max(0.01, $ours * $cores / 100):.1f}')")
    echo "| $label | $(rate "$line") | $per_core | $(field ok "$line") | $(( $(field other "$line") + $(field errors "$line") )) | $(field p50 "$line") | $(field p95 "$line") | $(field p99 "$line") | $(field by "$line" | tr ',' ' ') | ${busy}% | ${ours}% | $load |"
  done
  echo
  python3 - "$cores" "${rows[@]}" <<'PY'
import re, sys
cores = int(sys.argv[1])
one, three = [], []
for row in sys.argv[2:]:
    label, line, busy, ours = row.split("|")[:4]
    ok = int(re.search(r"ok=(\d+)", line).group(1)); secs = float(re.search(r"seconds=([\d.]+)", line).group(1))
    (one if label.startswith("1 replica") else three).append((ok / secs, ok / secs / max(0.01, int(ours) * cores / 100)))
mean = lambda rows, i: sum(r[i] for r in rows) / len(rows)
a, b = mean(one, 0), mean(three, 0)
print(f"Mean over the rounds: **1 replica {a:.1f} executions/s, 3 replicas {b:.1f} executions/s ({b / a:.2f}×)**; "
      f"per core-second actually used by the replicas, nginx, PostgreSQL and wrk: {mean(one, 1):.1f} vs {mean(three, 1):.1f} "
      f"({mean(three, 1) / mean(one, 1):.2f}×).")
PY
  echo
  echo "A session's cells (python \`x + 1\`, one at a time, 10 s per run) through the replica that holds it and through another"
  echo "replica, which forwards each request to the owner:"
  echo
  echo "| path | cells/s | p50 ms | p95 ms | p99 ms |"
  echo "|---|---:|---:|---:|---:|"
  for row in "${session_rows[@]}"; do
    IFS='|' read -r label line <<<"$row"
    echo "| $label | $(rate "$line") | $(field p50 "$line") | $(field p95 "$line") | $(field p99 "$line") |"
  done
  echo
  echo "**Reading it.** All three replicas run on the same $cores cores, so a third replica adds sandbox slots and request"
  echo "handling but no CPU: an execution is mostly CPU (bwrap, the interpreter's start-up), so on this host 3 replicas cannot"
  echo "run much more than one does. The runs differ by a few percent either way: three servers bring three spawner threads and"
  echo "three times the slots, which overlap a little more of each execution's waiting, and cost a little more memory and CPU"
  echo "themselves. What scales is CPU: replicas on separate machines (or pods on separate nodes) each bring their own cores,"
  echo "and stateless work spreads evenly over them (the *served by* column). Forwarding a session's request to its owner adds"
  echo "one loopback HTTP hop; compare the two session rows."
} > bench/REPLICAS.md
echo "replicas.sh: wrote bench/REPLICAS.md" >&2
