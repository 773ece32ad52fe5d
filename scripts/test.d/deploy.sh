#!/usr/bin/env bash
# The deployment suite's tools (tests/deploy): docker-compose (Debian's v1) to validate deploy/compose.yaml, PyYAML for
# /usr/bin/python3, util-linux's nsenter and curl (the client enters the test container's network namespace), and
# kubectl for `kubectl kustomize`. docker.sh (run after this hook) provides dockerd and debootstrap.
set -euo pipefail
missing=()
for p in docker-compose python3-yaml curl util-linux; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
command -v kubectl >/dev/null 2>&1 || missing+=(kubectl)
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then echo "deploy: missing ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
install() { apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
  || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }; }
install $(printf '%s\n' "${missing[@]}" | grep -vx kubectl) 2>/dev/null || true
# kubectl is not in every Debian release; without it the Kubernetes tests fail (under CI a skip is a failure).
if ! command -v kubectl >/dev/null 2>&1; then install kubectl || echo "deploy: kubectl is not installable here" >&2; fi
for p in docker-compose python3-yaml curl util-linux; do dpkg -s "$p" >/dev/null 2>&1 || { echo "deploy: could not install $p" >&2; exit 1; }; done
