#!/usr/bin/env bash
# Starts a dockerd for Warden's docker backend when none answers on the socket (no service manager runs it here).
# Data and state live under /var/lib/warden-docker; stop it with stop-dockerd.sh.
set -euo pipefail
sock="${WARDEN_DOCKER_SOCKET:-/var/run/docker.sock}"
root=/var/lib/warden-docker
if curl -fsS --unix-socket "$sock" http://docker/_ping >/dev/null 2>&1; then echo "dockerd already running on $sock"; exit 0; fi
mkdir -p "$root"
cat > "$root/daemon.json" <<JSON
{"runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--platform=ptrace", "--network=none"]}}}
JSON
nohup /usr/sbin/dockerd --config-file "$root/daemon.json" -H "unix://$sock" --data-root "$root/data" --exec-root "$root/exec" \
  --pidfile "$root/dockerd.pid" --iptables=false --ip6tables=false --bridge=none --ip-masq=false --userland-proxy=false \
  > "$root/dockerd.log" 2>&1 &
for _ in $(seq 1 100); do
  curl -fsS --unix-socket "$sock" http://docker/_ping >/dev/null 2>&1 && { echo "dockerd started ($sock)"; exit 0; }
  sleep 0.2
done
echo "dockerd did not come up; last log lines:" >&2; tail -20 "$root/dockerd.log" >&2; exit 1
