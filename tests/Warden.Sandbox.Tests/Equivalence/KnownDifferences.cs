namespace Warden.Sandbox.Tests.Equivalence;

/// <summary>
/// One way a backend's sandbox looks different from inside than <see cref="CanonicalSandbox"/> (what the SandboxSpec
/// describes). <see cref="Fact"/> is a probe fact's name, or a prefix ending in <c>*</c>; <see cref="Seen"/> pins what
/// the backend shows, null when it varies (a slot's uid). Backend <c>*</c>: any backend.
/// </summary>
internal sealed record KnownDifference(string Backend, string Fact, string? Seen, string Why)
{
    public bool Matches(string backend, string fact) =>
        (Backend == "*" || Backend == backend)
        && (Fact.EndsWith('*') ? fact.StartsWith(Fact[..^1], StringComparison.Ordinal) : fact == Fact);
}

/// <summary>
/// Every known difference between backends, in one table: the equivalence test consults it, and docs/sandbox-spec.md
/// lists the same rows (a test keeps the two in step). A difference that is not here fails the test; a row that no
/// longer happens fails it too, so the table stays true.
/// </summary>
internal static class KnownDifferences
{
    public static readonly IReadOnlyList<KnownDifference> All =
    [
        new("*", "mount /dev/warden-exit", "rw",
            "A warm sandbox's exit report FIFO (bwrap as root, gVisor); present only when the warm pool served the run."),

        new("bwrap", "mount /dev/*", "rw",
            "bwrap's --dev binds the host's null, zero, full, random, urandom and tty nodes into its /dev tmpfs."),
        new("bwrap", "writable /dev", "yes",
            "bwrap's /dev is a tmpfs owned by the sandbox's user; what is written there is charged to the slot's memory cgroup."),
        new("bwrap", "rlimit NPROC", null,
            "Not set: RLIMIT_NPROC counts every process of the host uid (the service's own when not root); the slot's pids cgroup counts the sandbox's."),

        new("gvisor", "uid", null, "No user namespace: the program runs as the slot's host uid, on the Sentry's kernel."),
        new("gvisor", "gid", null, "As uid: the slot's host gid."),
        new("gvisor", "mount /etc", null,
            "gVisor's root is a skeleton: the identity files and each host /etc entry are bound into it one by one, not as one prepared /etc."),
        new("gvisor", "mount /etc/*", "ro", "The per-entry binds of the /etc row above."),
        new("gvisor", "mount /sys", "rw", "runsc always mounts the Sentry's own sysfs; nothing in it is writable (see writable /sys)."),
        new("gvisor", "status CapAmb", "(absent)", "The Sentry's /proc/self/status has no CapAmb line."),
        new("gvisor", "status NoNewPrivs", "(absent)", "The Sentry's /proc/self/status has no NoNewPrivs line (it is set: noNewPrivileges in config.json)."),
        new("gvisor", "writable /dev/shm", "no", "runsc's /dev/shm is not writable by the program (POSIX shared memory and named semaphores fail)."),

        new("docker", "uid", null, "No user namespace: the program runs as the container's own host uid, leased from the sandbox uid range (Warden:SandboxUidBase)."),
        new("docker", "gid", null, "As uid: the container's gid, the same number as its uid."),
        new("docker", "groups", null, "Docker adds the container's gid as a supplementary group."),
        new("docker", "mount /usr", null, "The system comes from the image's read-only root, not from host binds."),
        new("docker", "mount /etc", null, "The image's /etc, in its read-only root."),
        new("docker", "mount /etc/hostname", "ro", "Docker binds its generated /etc/hostname."),
        new("docker", "mount /usr/sbin/docker-init", "ro", "tini, Docker's init (Init: true), bound into every container."),
        new("docker", "mount /dev/mqueue", "rw", "Docker mounts a POSIX message queue filesystem in its /dev."),
        new("docker", "mount /dev/shm", "rw", "Docker mounts a 64 MiB tmpfs at /dev/shm."),
        new("docker", "writable /dev/mqueue", "yes", "The mqueue mount above (bounded by the kernel's per-user mqueue limits)."),
        new("docker", "mount /proc/*", null, "Docker masks sensitive /proc entries (keys, timer_list, acpi...) with binds and remounts /proc/sys and others read-only."),
        new("docker", "mount /sys", "ro", "Docker mounts the host's sysfs read-only."),
        new("docker", "mount /sys/*", null, "Docker's /sys submounts: /sys/firmware masked, the cgroup hierarchies read-only (the container's own cgroup, rw on v1's top)."),
        new("docker", "rlimit NPROC", null,
            "Not set: RLIMIT_NPROC counts every process of the uid on the host, across containers; the container's pids cgroup counts its own."),
    ];

    public static KnownDifference? Find(string backend, string fact) => All.FirstOrDefault(d => d.Matches(backend, fact));
}
