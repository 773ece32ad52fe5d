#!/usr/bin/env bash
# Installs the test dependencies, builds, and runs every test suite (unit, sandbox conformance/security, HTTP,
# plugins). Prints one summary line "N passed, N failed, N skipped". Under CI (CI=true) a skipped test is a
# failure: a skipped sandbox test proves nothing.
set -uo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$repo"
log_dir="$repo/artifacts/test-logs"
mkdir -p "$log_dir"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# A dockerd started for the tests (scripts/test.d/docker.sh) is stopped when they end, however they end.
stop_started_daemons() {
  if [ -f "$log_dir/.dockerd-started" ]; then "$repo/deploy/runtime-image/stop-dockerd.sh"; rm -f "$log_dir/.dockerd-started"; fi
}
trap stop_started_daemons EXIT

# --- dependencies -------------------------------------------------------------------------------------------
apt_packages=(bubblewrap libseccomp2 gcc libc6-dev python3 procps iproute2)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: missing packages ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "test.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
    echo "test.sh: apt-get install failed" >&2; exit 1; }
fi
for hook in "$repo"/scripts/test.d/*.sh; do
  [ -f "$hook" ] || continue
  echo "test.sh: $(basename "$hook")"
  bash "$hook" || { echo "test.sh: $(basename "$hook") failed" >&2; exit 1; }
done

# The conformance and security suites run unchanged against every backend listed here.
export WARDEN_TEST_BACKENDS="${WARDEN_TEST_BACKENDS:-bwrap,gvisor,docker}"

# Sandbox tests must run, not skip, under CI.
if [ "${CI:-}" = "true" ]; then export WARDEN_REQUIRE_SANDBOX=1; fi

# --- build ---------------------------------------------------------------------------------------------------
echo "test.sh: building"
if ! dotnet build Warden.slnx -c Release -nologo -v quiet -clp:ErrorsOnly > "$log_dir/build.log" 2>&1; then
  cat "$log_dir/build.log"
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

passed=0; failed=0; skipped=0

# --- house style: the tree is as `dotnet format` leaves it (.editorconfig); analyzers already ran in the build ---------
echo "test.sh: format"
if scripts/check-format.sh > "$log_dir/format.log" 2>&1; then passed=$((passed + 1)); else cat "$log_dir/format.log"; failed=$((failed + 1)); fi

# --- Native AOT: `warden` published as one native binary (trim/AOT warnings are errors), then run on real sandboxes ----
echo "test.sh: native AOT publish and run"
if scripts/check-aot.sh > "$log_dir/aot.log" 2>&1; then passed=$((passed + 1)); grep '^aot:' "$log_dir/aot.log"; else tail -40 "$log_dir/aot.log"; failed=$((failed + 1)); fi

# --- .NET suites -----------------------------------------------------------------------------------------------
# run_suite LABEL PROJECT [VAR=VALUE ...] [FILTER=EXPRESSION]: one dotnet test run, counted into the totals.
run_suite() {
  local label="$1" project="$2"; shift 2
  local vars=() args=()
  for a in "$@"; do
    case "$a" in FILTER=*) args+=(--filter "${a#FILTER=}") ;; *) vars+=("$a") ;; esac
  done
  echo "test.sh: $label"
  local started=$SECONDS
  env "${vars[@]}" dotnet test "$project" -c Release --no-build -nologo "${args[@]}" 2>&1 | tee "$log_dir/$label.log" | grep -E '^\s*Skipped |error|Passed!|Failed!' || true
  # Why each test failed (its message and the top of its stack), not just its name: CI keeps only this output.
  awk '/^ *Failed [A-Za-z]/ { n = 80; print; next }
       n > 0 && /^ *(Passed|Skipped|Failed)[ !]/ { n = 0 }
       n > 0 { print; n-- }' "$log_dir/$label.log"
  local summary f p s
  summary="$(grep -E '(Passed|Failed)! +- ' "$log_dir/$label.log" | tail -1)"
  if [ -z "$summary" ]; then
    echo "test.sh: $label produced no test summary (crash?)"; failed=$((failed + 1)); return
  fi
  f=$(sed -E 's/.*Failed: *([0-9]+).*/\1/' <<<"$summary")
  p=$(sed -E 's/.*Passed: *([0-9]+).*/\1/' <<<"$summary")
  s=$(sed -E 's/.*Skipped: *([0-9]+).*/\1/' <<<"$summary")
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  echo "test.sh: $label took $((SECONDS - started)) s"
}

for project in $(ls -d tests/*/ 2>/dev/null); do
  name="$(basename "$project")"
  [ -f "$project/$name.csproj" ] || continue
  run_suite "$name" "$project"
done
# The conformance and security suites once more with the warm pool on: limits, statuses and cleanup must be the same on
# the warm path, on the backends with warm sandboxes.
run_suite "Warden.Sandbox.Tests-warm-pool" tests/Warden.Sandbox.Tests WARDEN_TEST_BACKENDS=bwrap,gvisor WARDEN_TEST_POOL=on
# Long-lived sandboxes (sessions, Jupyter kernels, Open Terminal users, MCP's session tools) on the other backends; bwrap
# ran above. The node clients follow below, per backend too.
long_lived_backends="${WARDEN_LONG_LIVED_BACKENDS:-gvisor docker}"
for backend in $long_lived_backends; do
  run_suite "Warden.Sessions.Tests-$backend" tests/Warden.Sessions.Tests WARDEN_TEST_BACKEND="$backend"
  run_suite "Warden.Server.Tests-surfaces-$backend" tests/Warden.Server.Tests WARDEN_TEST_BACKEND="$backend" \
    "FILTER=FullyQualifiedName~Warden.Server.Tests.Jupyter|FullyQualifiedName~Warden.Server.Tests.OpenTerminal|FullyQualifiedName~Warden.Server.Tests.Mcp|FullyQualifiedName~Warden.Server.Tests.Cluster.HomeFailoverTests"
done

# --- plugin suites (Python) --------------------------------------------------------------------------------------
if [ -x integrations/open-webui/tests/run.sh ]; then
  echo "test.sh: open-webui plugins"
  WARDEN_BIN="$repo/src/Warden.Cli/bin/Release/net10.0/warden" integrations/open-webui/tests/run.sh > "$log_dir/plugins.log" 2>&1
  tail -5 "$log_dir/plugins.log"
  ran=$(grep -Eo '^Ran [0-9]+ test' "$log_dir/plugins.log" | awk '{s+=$2} END {print s+0}')
  bad=$(grep -Eo '(failures|errors)=[0-9]+' "$log_dir/plugins.log" | awk -F= '{s+=$2} END {print s+0}')
  skip=$(grep -Eo 'skipped=[0-9]+' "$log_dir/plugins.log" | awk -F= '{s+=$2} END {print s+0}')
  if [ "$ran" -eq 0 ]; then bad=$((bad + 1)); fi
  passed=$((passed + ran - bad - skip)); failed=$((failed + bad)); skipped=$((skipped + skip))
fi

# --- node client suites (node:test against a real server): its "# pass/fail/skipped" lines are counted ------------
# run_node_suite LABEL DIR: a missing summary, or a non-zero exit with no failure counted, is a failure.
run_node_suite() {
  local label="$1" dir="$2" rc p f s
  [ -x "$dir/run.sh" ] || return 0
  echo "test.sh: $label (node)"
  local started=$SECONDS
  WARDEN_BIN="$repo/src/Warden.Cli/bin/Release/net10.0/warden" "$dir/run.sh" > "$log_dir/$label.log" 2>&1
  rc=$?
  grep -E '^# (pass|fail|skipped) ' "$log_dir/$label.log" || tail -20 "$log_dir/$label.log"
  p=$(awk '/^# pass /{print $3}' "$log_dir/$label.log"); f=$(awk '/^# fail /{print $3}' "$log_dir/$label.log")
  s=$(awk '/^# skipped /{print $3}' "$log_dir/$label.log")
  if [ -z "$p" ]; then p=0; f=1; s=0; fi
  if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
  echo "test.sh: $label took $((SECONDS - started)) s"
}
# @jupyterlab/services, the official MCP TypeScript SDK and xterm.js, on every backend.
run_node_suite jupyter-client tests/jupyter-client
run_node_suite mcp-client tests/mcp-client
run_node_suite terminal-client tests/terminal-client
for backend in $long_lived_backends; do
  WARDEN_TEST_BACKEND="$backend" run_node_suite "jupyter-client-$backend" tests/jupyter-client
  WARDEN_TEST_BACKEND="$backend" run_node_suite "mcp-client-$backend" tests/mcp-client
  WARDEN_TEST_BACKEND="$backend" run_node_suite "terminal-client-$backend" tests/terminal-client
done

# --- deployment suite (Python): kustomize renders, compose validation, the image built and run without a registry ----
if [ -x tests/deploy/run.sh ]; then
  echo "test.sh: deploy (image, compose, kubernetes)"
  tests/deploy/run.sh > "$log_dir/deploy.log" 2>&1
  tail -3 "$log_dir/deploy.log"
  ran=$(grep -Eo '^Ran [0-9]+ test' "$log_dir/deploy.log" | awk '{s+=$2} END {print s+0}')
  bad=$(grep -Eo '(failures|errors)=[0-9]+' "$log_dir/deploy.log" | awk -F= '{s+=$2} END {print s+0}')
  skip=$(grep -Eo 'skipped=[0-9]+' "$log_dir/deploy.log" | awk -F= '{s+=$2} END {print s+0}')
  if [ "$ran" -eq 0 ]; then bad=$((bad + 1)); fi
  passed=$((passed + ran - bad - skip)); failed=$((failed + bad)); skipped=$((skipped + skip))
fi

echo "$passed passed, $failed failed, $skipped skipped"
if [ "$failed" -gt 0 ] || [ "$passed" -eq 0 ]; then exit 1; fi
if [ "${CI:-}" = "true" ] && [ "$skipped" -gt 0 ]; then
  echo "test.sh: $skipped test(s) skipped under CI: a skipped test is a failure here" >&2
  exit 1
fi
exit 0
