#!/usr/bin/env bash
# Runs the Open WebUI plugin tests against a real Warden server (started by the tests themselves).
# Needs: a built Warden (dotnet build src/Warden.Cli, or WARDEN_BIN=/path/to/warden), root (Warden's sandboxes),
# and a python3 with pydantic 2 (what Open WebUI ships). PYTHON=... picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")"
exec "${PYTHON:-python3}" -m unittest discover -s . -p 'test_*.py' "$@"
