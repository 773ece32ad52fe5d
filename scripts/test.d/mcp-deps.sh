#!/usr/bin/env bash
# Dependencies of the MCP client tests: the npm packages of tests/mcp-client (@modelcontextprotocol/sdk, the official
# TypeScript SDK; versions locked in package-lock.json). The matplotlib they also need is jupyter-deps.sh's.
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)"
command -v node >/dev/null || { echo "mcp-deps: node (20+) is required for tests/mcp-client" >&2; exit 1; }
cd "$repo/tests/mcp-client"
npm ci --no-audit --no-fund --loglevel=error
