#!/usr/bin/env bash
# Stops the dockerd that start-dockerd.sh started (and its containerd), if any.
set -uo pipefail
pidfile=/var/lib/warden-docker/dockerd.pid
[ -f "$pidfile" ] || exit 0
pid="$(cat "$pidfile")"
kill "$pid" 2>/dev/null || exit 0
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.2; done
kill -9 "$pid" 2>/dev/null; exit 0
