using Warden.Core.Limits;

namespace Warden.Core.Sandboxing.Spec;

/// <summary>
/// Makes the <see cref="SandboxSpec"/> of one run from the resolved limits: the one place that decides what a sandbox
/// is. Every backend calls it for every sandbox it starts (a cold run's stage, a warm sandbox's stub, a session's
/// driver, a Docker keeper and its execs) and hands the result to its renderer.
/// </summary>
internal static class SandboxSpecBuilder
{
    public const string Hostname = "sandbox";

    /// <summary>Where the workspace appears unless a session names another place (a home).</summary>
    public const string DefaultWorkspace = "/sandbox";

    /// <summary>/tmp: everyone may write, only a file's owner may remove it (1777).</summary>
    public const UnixFileMode TmpMode = UnixFileMode.StickyBit | UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <param name="shared">The backend instance's root and read-only system mounts (its layout).</param>
    /// <param name="user">The program's uid/gid as the sandbox shows them.</param>
    /// <param name="workspace">The writable workspace; its target is also the working directory.</param>
    /// <param name="support">Extra read-only binds (a session's driver files), mounted after the system ones.</param>
    /// <param name="exitReport">A warm sandbox's exit report FIFO on the host, bound at <see cref="Slots.ExitReport.SandboxPath"/>.</param>
    /// <param name="egress">The egress network of a sandbox granted network (<see cref="ResourceLimits.Network"/>); a
    /// run granted network without one is refused rather than given any other network.</param>
    public static SandboxSpec Build(SandboxBase shared, SandboxUser user, ResourceLimits limits, SandboxCommand command,
        WorkspaceMount workspace, IReadOnlyList<ReadOnlyBind>? support = null, string? exitReport = null, EgressEndpoint? egress = null)
    {
        ArgumentNullException.ThrowIfNull(shared);
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(workspace);
        var mounts = new List<SandboxMount>(shared.Mounts.Count + 8);
        mounts.AddRange(shared.Mounts);
        mounts.AddRange(support ?? []);
        // Egress with TLS termination: the CA files over the placeholders the shared /etc holds (bwrap's and gVisor's
        // roots are read-only, so the mount points exist beforehand). Only for a run granted network.
        var trust = limits.Network ? egress?.Trust : null;
        if (trust is not null)
        {
            mounts.Add(new ReadOnlyBind(trust.BundlePath, Egress.EgressTrust.SandboxBundlePath));
            mounts.Add(new ReadOnlyBind(trust.CaPath, Egress.EgressTrust.SandboxCaPath));
        }
        mounts.Add(new ProcMount("/proc"));
        mounts.Add(new DevMount("/dev"));
        // After /dev, which it sits in.
        if (exitReport is not null) mounts.Add(new WritableBind(exitReport, Slots.ExitReport.SandboxPath, NoExec: true));
        mounts.Add(new TmpfsMount("/tmp", limits.TmpBytes, ResourceLimits.InodesFor(limits.TmpBytes), TmpMode));
        mounts.Add(workspace);

        if (limits.Network && egress is null)
            throw new InvalidOperationException("A run granted network needs its egress network; this sandbox has none (no host network, ever).");
        if (!limits.Network) egress = null;
        // Always a network namespace of its own: with egress it is the one Warden made, never the host's.
        var namespaces = SandboxNamespaces.User | SandboxNamespaces.Mount | SandboxNamespaces.Pid | SandboxNamespaces.Ipc
            | SandboxNamespaces.Uts | SandboxNamespaces.Cgroup | SandboxNamespaces.Network;
        IEnumerable<KeyValuePair<string, string>> environment = egress is null ? command.Environment
            : Replacing(command.Environment, trust is null ? ProxyEnvironment : [.. ProxyEnvironment, .. TrustEnvironment]);
        return new SandboxSpec
        {
            Root = shared.Root,
            Mounts = mounts,
            Namespaces = namespaces,
            User = user,
            Rlimits = Rlimits(limits),
            Seccomp = new SeccompFilter(AllowInetSockets: egress is not null || limits.LoopbackSockets),
            Hostname = Hostname,
            Environment = [.. environment.OrderBy(kv => kv.Key, StringComparer.Ordinal)],
            WorkingDirectory = workspace.Target,
            Argv = command.Argv,
            Network = egress is null ? NetworkPolicy.None : NetworkPolicy.Egress,
            Egress = egress,
            Cgroup = new SandboxCgroupLimits(limits.MemoryBytes, limits.MaxProcesses, limits.Cpus),
        };
    }

    /// <summary>
    /// The proxy environment of an egress sandbox, both cases with the same values (curl reads only lowercase
    /// <c>http_proxy</c>, others prefer uppercase; identical values make precedence moot). NO_PROXY names only the
    /// sandbox's own loopback. <c>NODE_USE_ENV_PROXY</c> makes node ≥ 22.21 honour them. They replace any the program's
    /// command set: a program is free to ignore the proxy (and then reaches nothing), not to be pointed elsewhere.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string>> ProxyEnvironment { get; } = BuildProxyEnvironment();

    private static List<KeyValuePair<string, string>> BuildProxyEnvironment()
    {
        var env = new List<KeyValuePair<string, string>>();
        foreach (var name in new[] { "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY" })
        {
            env.Add(new(name, Networking.EgressNetwork.ProxyUrl));
            env.Add(new(name.ToLowerInvariant(), Networking.EgressNetwork.ProxyUrl));
        }
        env.Add(new("NO_PROXY", "localhost,127.0.0.1,::1"));
        env.Add(new("no_proxy", "localhost,127.0.0.1,::1"));
        env.Add(new("NODE_USE_ENV_PROXY", "1"));
        return env;
    }

    /// <summary>
    /// Where TLS clients look for their roots, for a sandbox whose proxy terminates TLS: the bundle (public roots + Warden's
    /// CAs) for those that replace their store with it (OpenSSL's SSL_CERT_FILE: python ssl/urllib, Ruby, PHP, Go;
    /// requests, pip, curl (Debian's has a compiled-in path), git); the CAs alone for node, whose variable adds to its roots.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string>> TrustEnvironment { get; } =
    [
        new("CURL_CA_BUNDLE", Egress.EgressTrust.SandboxBundlePath),
        new("GIT_SSL_CAINFO", Egress.EgressTrust.SandboxBundlePath),
        new("NODE_EXTRA_CA_CERTS", Egress.EgressTrust.SandboxCaPath),
        new("PIP_CERT", Egress.EgressTrust.SandboxBundlePath),
        new("REQUESTS_CA_BUNDLE", Egress.EgressTrust.SandboxBundlePath),
        new("SSL_CERT_FILE", Egress.EgressTrust.SandboxBundlePath),
    ];

    private static IEnumerable<KeyValuePair<string, string>> Replacing(IEnumerable<KeyValuePair<string, string>> environment,
        IReadOnlyList<KeyValuePair<string, string>> set)
    {
        var names = set.Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
        return environment.Where(kv => !names.Contains(kv.Key)).Concat(set);
    }

    /// <summary>The rlimits of <paramref name="limits"/>: no core dumps, CPU in whole seconds.</summary>
    public static SandboxRlimits Rlimits(ResourceLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        // RLIMIT_CPU counts whole seconds: a fraction rounds up, and never to 0 (which would mean "no time at all").
        long cpu = Math.Max(1, (long)Math.Ceiling(limits.CpuTime.TotalSeconds));
        // The hard limit a second later: SIGKILL for programs that ignore the soft limit's SIGXCPU.
        return new SandboxRlimits(cpu, cpu + 1, limits.MaxFileBytes, limits.MaxOpenFiles, limits.MaxProcesses, CoreBytes: 0);
    }
}
