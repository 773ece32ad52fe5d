#!/usr/bin/env bash
# Tests the launcher's (./warden) prerequisite checks. The launcher is sourced (its functions only, under its own
# `set -euo pipefail`), never run: nothing is installed or built. One line per check, "ok - ..." or "not ok - ...";
# exits 1 when any failed. Run by tests/Warden.Core.Tests (LauncherChecksTests) and by hand.
set -uo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"
fakes="$(mktemp -d)"
trap 'rm -rf "$fakes"' EXIT
failed=0

check() { # NAME COMMAND...: the command runs in a subshell that sourced the launcher
  local name="$1"; shift
  if ( set -euo pipefail; source "$repo/warden"; "$@" ); then echo "ok - $name"; else echo "not ok - $name"; failed=1; fi
}

# A program named $1, in directory $4 of fakes (put on PATH), that prints file $2 and exits $3. Exiting 0 it *is* the
# writer (exec), as the real program is: a reader closing early kills it with SIGPIPE.
fake() {
  mkdir -p "$fakes/$4"
  if [ "$3" -eq 0 ]; then printf '#!/bin/sh\nexec cat %q\n' "$2"; else printf '#!/bin/sh\ncat %q\nexit %s\n' "$2" "$3"; fi > "$fakes/$4/$1"
  chmod +x "$fakes/$4/$1"
}

# 1. This host has what the launcher needs (the suites install it): the check must say so every time. The old
#    `ldconfig -p | grep -q` said libseccomp2 was missing in 3 to 9 runs of 200 here and ran apt-get.
present_200_times() {
  local i out
  for i in $(seq 1 200); do
    out="$(need_packages | sed '/^$/d')"
    if [ -n "$out" ]; then echo "run $i: missing $out" >&2; return 1; fi
  done
}
check "need_packages finds nothing missing, 200 times in a row" present_200_times

# 2. A loader cache much larger than a pipe with libseccomp on its first line, and no dpkg record: the library is
#    there. A reader that stops at the first match (grep -q) makes ldconfig die of SIGPIPE: under pipefail such a
#    check fails every time here.
{ printf '\tlibseccomp.so.2 (libc6,x86-64) => /lib/x86_64-linux-gnu/libseccomp.so.2\n'
  for i in $(seq 1 20000); do printf '\tlibfiller%s.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libfiller%s.so.1\n' "$i" "$i"; done
} > "$fakes/big-cache"
: > "$fakes/empty"
fake ldconfig "$fakes/big-cache" 0 bigcache
fake dpkg-query "$fakes/empty" 1 bigcache
with_path() { local dir="$1"; shift; PATH="$fakes/$dir:$PATH" "$@"; }
check "libseccomp found in a loader cache larger than a pipe (no dpkg record)" with_path bigcache have_libseccomp

# 3. Neither dpkg nor the loader knows it: missing, and need_packages names it.
printf '\tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6\n' > "$fakes/small-cache"
fake ldconfig "$fakes/small-cache" 0 nolib
fake dpkg-query "$fakes/empty" 1 nolib
not() { ! "$@"; }
check "libseccomp reported missing when neither dpkg nor the loader cache has it" with_path nolib not have_libseccomp
names_libseccomp() { [[ "$(need_packages)" == *libseccomp2* ]]; }
check "need_packages then lists libseccomp2" with_path nolib names_libseccomp

# 4. dpkg's record alone is enough (multiarch: one line per architecture).
printf 'not-installed\ninstalled\n' > "$fakes/dpkg-multiarch"
fake ldconfig "$fakes/empty" 0 dpkgonly
fake dpkg-query "$fakes/dpkg-multiarch" 0 dpkgonly
check "libseccomp found by its dpkg record (multiarch)" with_path dpkgonly have_libseccomp

# 5. The .NET SDK check reads the whole list: a 10.x SDK after many others is found, none is not.
{ for i in $(seq 1 20000); do printf '8.0.%s [/usr/share/dotnet/sdk]\n' "$i"; done; printf '10.0.100 [/usr/share/dotnet/sdk]\n'; } > "$fakes/sdks"
fake dotnet "$fakes/sdks" 0 dotnet10
check "a .NET 10 SDK is found at the end of a long list" with_path dotnet10 have_dotnet_10
{ printf '10.0.100 [/usr/share/dotnet/sdk]\n'; for i in $(seq 1 20000); do printf '8.0.%s [/usr/share/dotnet/sdk]\n' "$i"; done; } > "$fakes/sdks-first"
fake dotnet "$fakes/sdks-first" 0 dotnet10first
check "a .NET 10 SDK is found at the start of a long list" with_path dotnet10first have_dotnet_10
printf '8.0.100 [/usr/share/dotnet/sdk]\n9.0.100 [/usr/share/dotnet/sdk]\n' > "$fakes/sdks-old"
fake dotnet "$fakes/sdks-old" 0 dotnetold
check "no .NET 10 SDK: reported missing" with_path dotnetold not have_dotnet_10

exit "$failed"
