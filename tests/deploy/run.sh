#!/usr/bin/env bash
# The deployment suite: kustomize renders (test_kubernetes), compose validation (test_compose), and the image built
# without a registry and run with compose.yaml's privileges (test_image; needs root and a dockerd). Ends with the
# plain "N passed, N failed, N skipped" line; scripts/test.sh counts the unittest totals.
set -uo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
log="$(mktemp)"
/usr/bin/python3 -m unittest -v test_kubernetes test_compose test_image 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
ran=$(grep -Eo '^Ran [0-9]+ test' "$log" | awk '{print $2}'); ran=${ran:-0}
bad=$(grep -Eo '(failures|errors)=[0-9]+' "$log" | awk -F= '{s+=$2} END {print s+0}')
skip=$(grep -Eo 'skipped=[0-9]+' "$log" | awk -F= '{s+=$2} END {print s+0}')
rm -f "$log"
echo "$((ran - bad - skip)) passed, $bad failed, $skip skipped"
exit "$rc"
