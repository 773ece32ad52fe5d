#!/usr/bin/env bash
# Builds Warden's image (deploy/Dockerfile) on a machine with no container registry, with Docker's classic builder:
#   deploy/build-image.sh [IMAGE]        (default warden:latest; needs root, debootstrap, the .NET 10 SDK, a dockerd)
#
#   1. RUNTIME_BASE = warden-base:<suite>: Debian from the mirror apt already uses (debootstrap + docker import, by
#      deploy/runtime-image/base.sh) with the interpreters and the service's packages preinstalled; rebuilt only when
#      the package lists change. The docker backend's runtime image comes from the same base.
#   2. BUILD_BASE = warden-build-base:<sdk version>: that base plus the host's .NET SDK.
#   3. The NuGet packages Warden restores, copied from the host's NuGet cache into deploy/nuget-offline/.
#   4. docker build --network none: nothing in the build reaches any network.
set -euo pipefail
# Debian's client (matches Debian's dockerd) when present, whatever else is first on PATH.
docker() { if [ -x /usr/bin/docker ]; then /usr/bin/docker "$@"; else command docker "$@"; fi; }
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
image="${1:-warden:latest}"
suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
base="warden-base:$suite"
say() { printf 'build-image: %s\n' "$*" >&2; }
started=$SECONDS

docker version >/dev/null 2>&1 || { say "no Docker daemon answers; start one with deploy/runtime-image/start-dockerd.sh"; exit 1; }
command -v dotnet >/dev/null || { say "the .NET 10 SDK is required (dotnet not on PATH)"; exit 1; }

# 1. The Debian base, rebuilt when the package lists differ from the ones it was made with.
packages_hash="$(cat "$repo/deploy/runtime-image/packages.txt" "$repo/deploy/service-packages.txt" | sha256sum | cut -c1-16)"
if [ "$(docker image inspect -f '{{index .Config.Labels "dev.warden.packages"}}' "$base" 2>/dev/null || true)" != "$packages_hash" ]; then
  say "building $base (debootstrap; a few minutes)"
  "$repo/deploy/runtime-image/base.sh" "$base"
fi

# 2. The build stage's base: the Debian base plus this machine's SDK (the directory `dotnet` lives in).
sdk_dir="$(dirname "$(readlink -f "$(command -v dotnet)")")"
sdk_version="$(dotnet --version)"
build_base="warden-build-base:$sdk_version"
base_id="$(docker image inspect -f '{{.Id}}' "$base")"
if [ "$(docker image inspect -f '{{index .Config.Labels "dev.warden.from"}}' "$build_base" 2>/dev/null || true)" != "$base_id" ]; then
  say "building $build_base from $sdk_dir"
  printf 'FROM %s\nCOPY . /usr/share/dotnet/\nRUN ln -sf /usr/share/dotnet/dotnet /usr/bin/dotnet\nLABEL dev.warden.from=%s\n' "$base" "$base_id" \
    | docker build --network none -q -t "$build_base" -f - "$sdk_dir" >/dev/null
fi

# 3. The packages the restore needs, from the host's cache (a restore here fills it from NuGet.config's sources).
say "restoring on the host and copying the packages into deploy/nuget-offline/"
# For the image's architecture: the Native AOT publish needs the runtime packs and ILC of that RID too.
case "$(uname -m)" in x86_64) rid=linux-x64 ;; aarch64) rid=linux-arm64 ;; *) say "no Native AOT target for $(uname -m)"; exit 1 ;; esac
dotnet restore "$repo/src/Warden.Cli/Warden.Cli.csproj" -r "$rid" -nologo -v quiet >/dev/null
feed="$repo/deploy/nuget-offline"
find "$feed" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
cache="$(dotnet nuget locals global-packages -l | sed 's/^global-packages: //')"
# Every project's own restore (each has its lock file) may need a version the CLI's graph lifted: take them all.
/usr/bin/python3 - "$cache" "$feed" "$repo"/src/*/obj/project.assets.json <<'PY'
import json, pathlib, shutil, sys
cache, feed = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
assets = [json.load(open(a)) for a in sys.argv[3:]]
paths = {l["path"] for a in assets for l in a["libraries"].values() if l["type"] == "package"}
# Runtime packs and ILC (Native AOT) are download dependencies, not libraries of the graph.
paths |= {f'{d["name"].lower()}/{d["version"].strip("[]").split(",")[0].strip()}' for a in assets
          for f in a["project"]["frameworks"].values() for d in f.get("downloadDependencies", [])}
for path in sorted(paths):
    source, target = cache / path, feed / path
    if not source.is_dir():
        continue
    target.mkdir(parents=True, exist_ok=True)
    # A NuGet folder feed needs the package, its hash and its nuspec; the extracted files are not needed.
    for f in source.iterdir():
        if f.name.endswith((".nupkg", ".nupkg.sha512", ".nuspec")):
            shutil.copy2(f, target / f.name)
PY

# 4. The image.
say "docker build $image"
docker build --network none -q -f "$repo/deploy/Dockerfile" --build-arg BUILD_BASE="$build_base" --build-arg RUNTIME_BASE="$base" \
  -t "$image" "$repo" >/dev/null
size="$(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1048576}')"
say "built $image ($size) in $((SECONDS - started)) s"
