# Sourced by the test.d hooks: install_without_service PACKAGE... installs Debian packages whose post-install would
# start a system service (a default PostgreSQL cluster, nginx on port 80). policy-rc.d keeps every service from
# starting; the tests run the binaries themselves, as children they stop.
install_without_service() {
  export DEBIAN_FRONTEND=noninteractive
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created_policy=1; fi
  local status=0
  # Under the hooks' set -e a failure must still remove the policy file: the outcome is captured, not fatal here.
  if ! apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then
    if apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "$@" >/dev/null; then status=0; else status=1; fi
  fi
  if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
  return "$status"
}
