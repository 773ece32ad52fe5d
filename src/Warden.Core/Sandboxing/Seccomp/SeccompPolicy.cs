namespace Warden.Core.Sandboxing.Seccomp;

/// <summary>
/// What the sandbox's seccomp filter denies. A deny-list on top of namespaces, no capabilities and no_new_privs:
/// each entry closes a known path from a sandbox to the host kernel's rarely-needed, often-exploited surface.
/// </summary>
public static class SeccompPolicy
{
    /// <summary>Denied with EPERM.</summary>
    public static readonly IReadOnlyList<string> Denied =
    [
        // Observing or steering other processes.
        "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
        // New mounts and namespaces: the sandbox's view of the filesystem and its namespaces are final.
        "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsmount", "fsconfig", "fspick", "move_mount", "open_tree",
        "mount_setattr", "unshare", "setns",
        // Kernel keyrings, eBPF, perf and userfaultfd: frequent sources of kernel exploits.
        "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
        // io_uring bypasses seccomp for the operations it performs.
        "io_uring_setup", "io_uring_enter", "io_uring_register",
        // Host administration.
        "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "open_by_handle_at",
        "name_to_handle_at", "swapon", "swapoff", "reboot", "acct", "quotactl", "quotactl_fd", "settimeofday",
        "clock_settime", "adjtimex", "clock_adjtime", "syslog", "vhangup", "iopl", "ioperm", "lookup_dcookie", "uselib",
        "nfsservctl",
    ];

    /// <summary>clone flags that create namespaces; clone with any of them is denied (EPERM).</summary>
    public static readonly IReadOnlyList<ulong> NamespaceCloneFlags =
    [
        0x10000000, // CLONE_NEWUSER
        0x00020000, // CLONE_NEWNS
        0x20000000, // CLONE_NEWPID
        0x40000000, // CLONE_NEWNET
        0x04000000, // CLONE_NEWUTS
        0x08000000, // CLONE_NEWIPC
        0x02000000, // CLONE_NEWCGROUP
        0x00000080, // CLONE_NEWTIME
    ];

    /// <summary>ioctl requests denied (EPERM): injecting input into a terminal.</summary>
    public static readonly IReadOnlyList<ulong> DeniedIoctls = [0x5412 /* TIOCSTI */, 0x541C /* TIOCLINUX */];

    internal const int AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10;
}
