#!/usr/bin/env bash
# Checks that every C# file is formatted the way .editorconfig says (whitespace, usings order, the style rules it
# raises to warning). Changes nothing; exit 0 when clean, 1 with the offending lines and the fix otherwise.
# Runs offline: it restores only from what a build already put in the NuGet cache (run after `dotnet build`).
set -uo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$repo"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# --no-restore: the build before this restored; a second restore could only reach for the network.
if [ ! -f src/Warden.Core/obj/project.assets.json ]; then
  echo "check-format: not restored yet; run: dotnet build Warden.slnx -c Release" >&2
  exit 1
fi
if output="$(dotnet format Warden.slnx --verify-no-changes --no-restore -v quiet 2>&1)"; then
  echo "check-format: formatting matches .editorconfig"
  exit 0
fi
# One line per finding, without the project suffix; the count first so a long list still says how big it is.
findings="$(sed -E 's# \[/[^]]*\]$##; s#^'"$repo"'/##' <<<"$output" | grep -E ': (error|warning) ' | sort -u)"
echo "check-format: $(grep -c . <<<"$findings") formatting finding(s):"
echo "${findings:-$output}" | head -50
echo "check-format: fix them with: dotnet format Warden.slnx   (then review and commit the diff)"
exit 1
