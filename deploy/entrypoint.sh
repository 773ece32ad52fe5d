#!/bin/sh
# Entry point of the Warden image. PID 1 is tini (forwards SIGTERM to Warden, reaps whatever is orphaned to it).
# As root with CAP_SYS_ADMIN (see compose.yaml) it prepares two things the sandboxes need, then execs Warden.
set -eu

if [ "$(id -u)" = 0 ]; then
  # 1. Cgroups: the container runtime mounts the container's *own* cgroup read-only at /sys/fs/cgroup/... (cgroup v1:
  #    one bind per controller of /docker/<id> or the pod's cgroup; v2: a private cgroup namespace). Remounting those
  #    binds read-write lets Warden create its sandboxes' cgroups *inside the container's cgroup*: they count against
  #    the container's limits, and Warden sees neither the host's cgroups nor other containers' (so two Warden
  #    containers on one host never mistake each other's sandboxes for a crashed instance's leftovers). No bind of the
  #    host's /sys/fs/cgroup is needed. Every controller: runsc (the gvisor backend) creates its cgroups in all of them.
  awk '{ for (i = 1; i <= NF; i++) if ($i == "-") { print $5, $(i + 1), $(i + 3); break } }' /proc/self/mountinfo |
  while read -r point type options; do
    case "$type:$options" in
      cgroup2:* | cgroup:*)
        mount -o remount,bind,rw "$point" 2>/dev/null \
          || echo "warden-entrypoint: could not remount $point read-write (needs CAP_SYS_ADMIN)" >&2 ;;
    esac
  done

  # 2. /proc: the runtime masks parts of the container's /proc (/proc/kcore, /proc/keys, ... covered; /proc/sys
  #    read-only). bwrap, started from an unprivileged slot uid in a new user namespace, then fails twice: the kernel
  #    refuses the sandbox's fresh /proc unless a procfs is already fully visible (no locked mounts over it), and
  #    --disable-userns (no nested user namespaces in the sandbox) writes the sandbox's own
  #    /proc/sys/user/max_user_namespaces through /proc. A new procfs of the container's own pid namespace on top fixes
  #    both, without systempaths=unconfined / procMount: Unmasked and without the host's /proc. A process with
  #    CAP_SYS_ADMIN could undo the masks anyway, so they protected nothing here. Sandboxes never see this /proc: each
  #    gets its own, of its own pid namespace.
  mount -t proc -o nosuid,nodev,noexec proc /proc 2>/dev/null \
    || echo "warden-entrypoint: could not mount a procfs on /proc (needs CAP_SYS_ADMIN and no AppArmor mount denial);" \
      "bwrap sandboxes will not start: run 'warden doctor' in the container for the fix" >&2
fi
exec /opt/warden/warden "$@"
