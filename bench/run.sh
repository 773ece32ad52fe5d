#!/usr/bin/env bash
# Builds Release and runs the Warden benchmark; the harness writes bench/RESULTS.md.
#   bench/run.sh            full run (60 interleaved rounds per latency row, 3 repetitions per throughput cell)
#   bench/run.sh --quick    CI smoke: a few rounds, proves every variant works, numbers are not meaningful
# Extra arguments go to the harness (--rounds N, --seed N, --out FILE). Needs root, bwrap, cgroups (see `warden doctor`).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

dotnet build src/Warden.Cli -c Release -nologo -v quiet
dotnet build bench/Warden.Benchmarks -c Release -nologo -v quiet

out=$root/bench/RESULTS.md
case " $* " in *" --quick "*) out=$root/bench/out/RESULTS.quick.md; mkdir -p "$root/bench/out" ;; esac

# A clean environment, as the issue asks for the baselines; PATH only so the harness finds nothing by accident
# (every program it starts is given by absolute path). DOTNET_ROOT lets the apphost find the runtime; WARDEN_STATE_DIR,
# when set, gives the bench's servers their own state directory on a machine shared with other Warden processes.
dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="${HOME:-/root}" DOTNET_ROOT="$dotnet_root" \
  DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 ${WARDEN_STATE_DIR:+WARDEN_STATE_DIR="$WARDEN_STATE_DIR"} \
  "$root/bench/Warden.Benchmarks/bin/Release/net10.0/Warden.Benchmarks" \
  --warden "$root/src/Warden.Cli/bin/Release/net10.0/warden" --out "$out" "$@"
