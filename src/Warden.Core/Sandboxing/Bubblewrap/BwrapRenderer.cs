using System.Globalization;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Bubblewrap;

/// <summary>The host programs a bwrap sandbox is built with: bwrap itself and the instance's compiled seccomp filters.</summary>
/// <param name="SeccompNoNet">The BPF program of <see cref="Seccomp.SeccompPolicy"/> without inet sockets.</param>
/// <param name="SeccompNet">The same with inet sockets allowed.</param>
internal sealed record BwrapTools(string BwrapPath, string SeccompNoNet, string SeccompNet)
{
    public string SeccompProgram(SeccompFilter filter) => filter.AllowInetSockets ? SeccompNet : SeccompNoNet;
}

/// <summary>
/// Renders a <see cref="SandboxSpec"/> as what a parked warden-exec helper takes: its control fields (rlimits, the
/// seccomp program to hand bwrap on fd 3) followed by the bwrap command line. Pure: tests read every decision.
/// </summary>
internal static class BwrapRenderer
{
    /// <summary>The uid and gid inside bwrap's user namespace; the host uid is the slot's (warden-exec drops to it).</summary>
    public const int SandboxUid = 1000;
    public const int SeccompFd = 3;
    public const int StatusFd = 4;

    /// <summary>The fields of the helper's control block that turn it into bwrap running the spec's program.</summary>
    public static List<string> ControlFields(SandboxSpec spec, BwrapTools tools)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(tools);
        var fields = new List<string>(Rlimits(spec.Rlimits)) { "seccomp=" + tools.SeccompProgram(spec.Seccomp) };
        if (NetnsField(spec) is { } netns) fields.Add(netns);
        fields.AddRange(["--", tools.BwrapPath]);
        fields.AddRange(Arguments(spec));
        return fields;
    }

    /// <summary>
    /// warden-exec's <c>netns=</c> field for an egress sandbox (bwrap and runsc then start inside Warden's namespace), or
    /// null. Fails closed: an egress spec without the namespace path renders nothing at all.
    /// </summary>
    public static string? NetnsField(SandboxSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Network == NetworkPolicy.None) return null;
        return spec.Egress?.NamespacePath is { Length: > 0 } path
            ? "netns=" + path
            : throw new ArgumentException("An egress sandbox needs the egress network namespace it joins.", nameof(spec));
    }

    /// <summary>
    /// The rlimits warden-exec applies before it execs bwrap (inherited by everything inside). No RLIMIT_NPROC: it counts
    /// every process of the host uid, which without root is the service's own uid, shared by every slot; the slot's
    /// pids cgroup counts exactly the sandbox's processes instead.
    /// </summary>
    public static IEnumerable<string> Rlimits(SandboxRlimits rlimits)
    {
        ArgumentNullException.ThrowIfNull(rlimits);
        yield return $"rlimit=cpu:{Str(rlimits.CpuSoftSeconds)}:{Str(rlimits.CpuHardSeconds)}";
        yield return $"rlimit=fsize:{Str(rlimits.FileSizeBytes)}:{Str(rlimits.FileSizeBytes)}";
        yield return $"rlimit=nofile:{Str(rlimits.OpenFiles)}:{Str(rlimits.OpenFiles)}";
        yield return $"rlimit=core:{Str(rlimits.CoreBytes)}:{Str(rlimits.CoreBytes)}";
    }

    /// <summary>bwrap's argument list, ending with the program's argv.</summary>
    public static List<string> Arguments(SandboxSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Root is not BuiltRoot) throw new ArgumentException($"bwrap builds its own root; it cannot use {spec.Root}.", nameof(spec));
        if (!spec.Namespaces.HasFlag(SandboxNamespaces.Mount) || !spec.Namespaces.HasFlag(SandboxNamespaces.User))
            throw new ArgumentException("bwrap always creates a user and a mount namespace.", nameof(spec));
        var a = new List<string>(96);
        Namespaces(spec, a);
        a.AddRange([
            // The sandbox may not create user namespaces of its own (seccomp denies the other ways in too).
            "--disable-userns", "--assert-userns-disabled",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--uid", Str(spec.User.Uid), "--gid", Str(spec.User.Gid), "--hostname", spec.Hostname,
        ]);
        foreach (var mount in spec.Mounts) Mount(mount, a);
        a.AddRange(["--chdir", spec.WorkingDirectory]);
        // The root bwrap builds is a writable tmpfs: make it read-only once every mount point exists.
        a.AddRange(["--remount-ro", "/"]);
        a.Add("--clearenv");
        foreach (var (key, value) in spec.Environment) a.AddRange(["--setenv", key, value]);
        // no_new_privs: bwrap sets it before it loads the filter (a filter cannot be loaded without it when unprivileged).
        a.AddRange(["--seccomp", Str(SeccompFd), "--json-status-fd", Str(StatusFd), "--"]);
        a.AddRange(spec.Argv);
        return a;
    }

    private static void Namespaces(SandboxSpec spec, List<string> a)
    {
        var ns = spec.Namespaces;
        // The mount namespace is implicit: bwrap always makes one.
        if (ns.HasFlag(SandboxNamespaces.User)) a.Add("--unshare-user");
        if (ns.HasFlag(SandboxNamespaces.Ipc)) a.Add("--unshare-ipc");
        if (ns.HasFlag(SandboxNamespaces.Pid)) a.Add("--unshare-pid");
        if (ns.HasFlag(SandboxNamespaces.Uts)) a.Add("--unshare-uts");
        // -try: a kernel without cgroup namespaces still runs sandboxes (they then see the host's cgroup paths).
        if (ns.HasFlag(SandboxNamespaces.Cgroup)) a.Add("--unshare-cgroup-try");
        if (!ns.HasFlag(SandboxNamespaces.Network))
            throw new ArgumentException($"Every sandbox has a network namespace of its own; {ns} has none.", nameof(spec));
        switch (spec.Network)
        {
            case NetworkPolicy.None:
                a.Add("--unshare-net");
                break;
            case NetworkPolicy.Egress:
                // No --unshare-net: that would make a new, empty namespace. warden-exec already joined Warden's (netns=),
                // and bwrap inherits it.
                _ = NetnsField(spec);
                break;
            default:
                throw new ArgumentException($"Unknown network policy {spec.Network}.", nameof(spec));
        }
    }

    private static void Mount(SandboxMount mount, List<string> a)
    {
        switch (mount)
        {
            // bwrap's binds are nosuid and nodev already (it mounts them so in its user namespace).
            case ReadOnlyBind { IfPresent: true } bind: a.AddRange(["--ro-bind-try", bind.Source, bind.Target]); break;
            case ReadOnlyBind bind: a.AddRange(["--ro-bind", bind.Source, bind.Target]); break;
            // bwrap has no per-bind noexec; the one writable bind is the exit report, a FIFO, which cannot be executed.
            case WritableBind bind: a.AddRange(["--bind", bind.Source, bind.Target]); break;
            case WorkspaceMount workspace: a.AddRange(["--bind", workspace.Source, workspace.Target]); break;
            // bwrap takes a size but no nr_inodes or mode: its tmpfs is 0755 and owned by the sandbox's user, the only
            // user there; the slot's memory cgroup bounds what empty files could cost.
            case TmpfsMount tmpfs: a.AddRange(["--size", Str(tmpfs.SizeBytes), "--tmpfs", tmpfs.Target]); break;
            case ProcMount proc: a.AddRange(["--proc", proc.Target]); break;
            case DevMount dev: a.AddRange(["--dev", dev.Target]); break;
            case SymlinkMount link: a.AddRange(["--symlink", link.LinkTarget, link.Target]); break;
            default: throw new ArgumentException($"bwrap cannot make {mount}.", nameof(mount));
        }
    }

    private static string Str(long value) => value.ToString(CultureInfo.InvariantCulture);
}
