namespace Warden.Core.Sandboxing.Spec;

/// <summary>
/// One sandbox, described once and independent of the backend that builds it: what the program sees (root, mounts,
/// hostname, environment, working directory), who it is (uid/gid, no capabilities, no_new_privs), which namespaces it
/// gets, the kernel surface it may reach (seccomp, network policy) and what it may consume (rlimits, cgroup limits).
/// Made by <see cref="SandboxSpecBuilder"/> from the resolved limits; each backend's renderer turns it into exactly
/// what that backend takes (bwrap argv, an OCI config.json for runsc, Docker Engine API bodies). Where a renderer
/// cannot express a field, it says why in a comment and docs/sandbox-spec.md lists the difference.
/// </summary>
internal sealed record SandboxSpec
{
    /// <summary>The root filesystem; always read-only.</summary>
    public required SandboxRoot Root { get; init; }

    /// <summary>Mounts in the order they are made: later ones may sit inside earlier ones (/dev/warden-exit in /dev).</summary>
    public required IReadOnlyList<SandboxMount> Mounts { get; init; }

    public required SandboxNamespaces Namespaces { get; init; }

    /// <summary>The program's uid and gid as the sandbox shows them (inside bwrap's user namespace: 1000).</summary>
    public required SandboxUser User { get; init; }

    public required SandboxRlimits Rlimits { get; init; }

    public required SeccompFilter Seccomp { get; init; }

    public required string Hostname { get; init; }

    /// <summary>The program's whole environment (nothing is inherited), ordered by name.</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Environment { get; init; }

    public required string WorkingDirectory { get; init; }

    public required IReadOnlyList<string> Argv { get; init; }

    public required NetworkPolicy Network { get; init; }

    /// <summary>Where an <see cref="NetworkPolicy.Egress"/> sandbox's network is; null for <see cref="NetworkPolicy.None"/>.</summary>
    public EgressEndpoint? Egress { get; init; }

    public required SandboxCgroupLimits Cgroup { get; init; }

    /// <summary>The workspace among <see cref="Mounts"/>: every sandbox has exactly one.</summary>
    public WorkspaceMount Workspace => Mounts.OfType<WorkspaceMount>().Single();
}

/// <summary>
/// What the sandbox may reach over the network. Never the host's network: a run granted network gets a namespace whose
/// only way out is Warden's egress proxy (docs/design/egress-proposal.md).
/// </summary>
internal enum NetworkPolicy
{
    /// <summary>A network namespace of its own with only loopback; inet sockets are denied by seccomp too.</summary>
    None,

    /// <summary>
    /// A network namespace with only loopback, where Warden's proxy listens on 127.0.0.1:3128; inet sockets allowed
    /// (they reach only that loopback), programs told about the proxy through the environment.
    /// </summary>
    Egress,
}

/// <summary>
/// Where an egress sandbox's network namespace comes from. <paramref name="NamespacePath"/>: the namespace Warden made
/// (<see cref="Networking.EgressNetwork.HelperPath"/>) that warden-exec joins before it execs bwrap or runsc; null
/// where the runtime makes the namespace itself and Warden puts its listener into it afterwards (a Docker keeper).
/// <paramref name="Trust"/>: the CA files of a proxy that terminates TLS for some hosts, bound read-only at
/// <see cref="Egress.EgressTrust.SandboxBundlePath"/> and <see cref="Egress.EgressTrust.SandboxCaPath"/>; null without termination.
/// </summary>
internal sealed record EgressEndpoint(string? NamespacePath, Egress.EgressTrustFiles? Trust = null);

/// <summary>The namespaces the sandbox is given, as an intent; each renderer maps them to what its tool can create.</summary>
[Flags]
internal enum SandboxNamespaces
{
    None = 0,
    User = 1,
    Mount = 2,
    Pid = 4,
    Ipc = 8,
    Uts = 16,
    Cgroup = 32,
    Network = 64,
}

/// <summary>The program's identity inside the sandbox. It never has capabilities and always runs with no_new_privs.</summary>
internal sealed record SandboxUser(int Uid, int Gid);

/// <summary>Per-process limits the program starts under (inherited by its children).</summary>
/// <param name="CpuSoftSeconds">RLIMIT_CPU soft: SIGXCPU.</param>
/// <param name="CpuHardSeconds">RLIMIT_CPU hard: SIGKILL, for programs that ignore SIGXCPU.</param>
/// <param name="Processes">RLIMIT_NPROC; renderers whose cgroup counts the program's processes leave it out.</param>
internal sealed record SandboxRlimits(long CpuSoftSeconds, long CpuHardSeconds, long FileSizeBytes, long OpenFiles, long Processes, long CoreBytes);

/// <summary>The cgroup limits of the sandbox as a whole: memory (without swap), processes, CPU bandwidth in cores.</summary>
internal sealed record SandboxCgroupLimits(long MemoryBytes, int Pids, double Cpus);

/// <summary>
/// The seccomp policy (<see cref="Seccomp.SeccompPolicy"/>) and whether it lets the program open inet sockets. How a
/// backend installs it, and the few rules it must adapt to its kernel, are the renderer's (see
/// <see cref="Seccomp.SeccompProfileOptions"/>).
/// </summary>
internal sealed record SeccompFilter(bool AllowInetSockets);
