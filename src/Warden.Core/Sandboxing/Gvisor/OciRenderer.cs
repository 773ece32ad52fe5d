using System.Globalization;
using System.Text.Json.Nodes;
using Warden.Core.Sandboxing.Seccomp;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Gvisor;

/// <summary>
/// Renders a <see cref="SandboxSpec"/> as the OCI runtime spec (<c>config.json</c>) <c>runsc run</c> takes, plus the one
/// runsc flag the spec decides (<see cref="RunscNetwork"/>). Pure, so tests can read every decision.
/// </summary>
internal static class OciRenderer
{
    public static JsonObject Render(SandboxSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Root is not DirectoryRoot root) throw new ArgumentException($"runsc needs a root directory, not {spec.Root}.", nameof(spec));
        _ = RunscNetwork(spec);
        var mounts = new JsonArray();
        foreach (var mount in spec.Mounts) mounts.Add((JsonNode)Mount(mount));
        return new JsonObject
        {
            ["ociVersion"] = "1.0.2",
            ["process"] = new JsonObject
            {
                ["terminal"] = false,
                // No user namespace: the uid is the slot's host uid, and the Sentry, not the host kernel, is what it talks to.
                ["user"] = new JsonObject { ["uid"] = spec.User.Uid, ["gid"] = spec.User.Gid },
                ["args"] = new JsonArray([.. spec.Argv.Select(a => (JsonNode)a)]),
                ["env"] = new JsonArray([.. spec.Environment.Select(kv => (JsonNode)$"{kv.Key}={kv.Value}")]),
                ["cwd"] = spec.WorkingDirectory,
                ["capabilities"] = new JsonObject
                {
                    ["bounding"] = new JsonArray(), ["effective"] = new JsonArray(), ["inheritable"] = new JsonArray(),
                    ["permitted"] = new JsonArray(), ["ambient"] = new JsonArray(),
                },
                ["rlimits"] = new JsonArray
                {
                    (JsonNode)Rlimit("RLIMIT_NOFILE", spec.Rlimits.OpenFiles, spec.Rlimits.OpenFiles),
                    (JsonNode)Rlimit("RLIMIT_CORE", spec.Rlimits.CoreBytes, spec.Rlimits.CoreBytes),
                    (JsonNode)Rlimit("RLIMIT_FSIZE", spec.Rlimits.FileSizeBytes, spec.Rlimits.FileSizeBytes),
                    (JsonNode)Rlimit("RLIMIT_CPU", spec.Rlimits.CpuSoftSeconds, spec.Rlimits.CpuHardSeconds),
                    // The host pids cgroup sees gVisor's threads, not the program's processes: limit those inside.
                    (JsonNode)Rlimit("RLIMIT_NPROC", spec.Rlimits.Processes, spec.Rlimits.Processes),
                },
                ["noNewPrivileges"] = true,
            },
            ["root"] = new JsonObject { ["path"] = root.Path, ["readonly"] = true },
            ["hostname"] = spec.Hostname,
            ["mounts"] = mounts,
            ["linux"] = new JsonObject
            {
                // Egress: no "network" entry. Without a path runsc would make a new, empty namespace; with one it would
                // join it itself, and a runsc that ignored the path would leave hostinet on the host's network. The
                // namespace is warden-exec's to join, failing closed.
                ["namespaces"] = Namespaces(spec.Network == NetworkPolicy.Egress ? spec.Namespaces & ~SandboxNamespaces.Network : spec.Namespaces),
                ["maskedPaths"] = new JsonArray("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/sys/firmware"),
                ["readonlyPaths"] = new JsonArray("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"),
                ["seccomp"] = SeccompProfileJson.Build(spec.Seccomp.AllowInetSockets, SeccompProfileOptions.Gvisor),
            },
        };
    }

    /// <summary>
    /// runsc's <c>--network</c>: the Sentry's own netstack with only loopback (<c>none</c>), or for egress <c>host</c>:
    /// the Sentry's host-network stack, which is the namespace warden-exec joined before it exec'd runsc (netns=, see
    /// <see cref="Bubblewrap.BwrapRenderer.NetnsField"/>) — only <c>lo</c> and Warden's proxy listener. Checked on runsc
    /// 20221219 (commit "Spike (egress §2.2)"): 127.0.0.1:3128 connects, the host's loopback refuses, no route, no DNS.
    /// </summary>
    public static string RunscNetwork(SandboxSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (!spec.Namespaces.HasFlag(SandboxNamespaces.Network))
            throw new ArgumentException($"Every sandbox has a network namespace of its own; {spec.Namespaces} has none.", nameof(spec));
        return spec.Network switch
        {
            NetworkPolicy.None => "none",
            NetworkPolicy.Egress when Bubblewrap.BwrapRenderer.NetnsField(spec) is not null => "host",
            _ => throw new ArgumentException($"Unknown network policy {spec.Network}.", nameof(spec)),
        };
    }

    /// <summary>
    /// The user namespace is left out: the program runs as the slot's host uid on the Sentry, which implements its own
    /// ids; the cgroup namespace too: the Sentry's cgroupfs is its own whatever the host's.
    /// </summary>
    private static JsonArray Namespaces(SandboxNamespaces ns)
    {
        var namespaces = new JsonArray();
        foreach (var (flag, type) in new[] { (SandboxNamespaces.Pid, "pid"), (SandboxNamespaces.Ipc, "ipc"), (SandboxNamespaces.Uts, "uts"),
                     (SandboxNamespaces.Mount, "mount"), (SandboxNamespaces.Network, "network") })
            if (ns.HasFlag(flag)) namespaces.Add((JsonNode)new JsonObject { ["type"] = type });
        return namespaces;
    }

    private static JsonObject Mount(SandboxMount mount) => mount switch
    {
        ProcMount proc => Mount(proc.Target, "proc", "proc", "nosuid", "noexec", "nodev"),
        // runsc fills its /dev with its own device files; the tmpfs only holds them (and the exit report's mount point).
        DevMount dev => Mount(dev.Target, "tmpfs", "tmpfs", "nosuid", "mode=755", "size=65536k"),
        // No nr_inodes: the Sentry's tmpfs lives in its own memory, which the slot's memory cgroup bounds.
        TmpfsMount tmpfs => Mount(tmpfs.Target, "tmpfs", "tmpfs", "nosuid", "nodev", "mode=" + Octal(tmpfs.Mode),
            $"size={(tmpfs.SizeBytes / 1024).ToString(CultureInfo.InvariantCulture)}k"),
        // An OCI bind of a missing source fails the whole sandbox: GvisorLayout keeps only the paths that exist.
        ReadOnlyBind { IfPresent: true } => throw new ArgumentException("OCI has no optional binds; the layout checks presence.", nameof(mount)),
        ReadOnlyBind bind => Mount(bind.Target, "bind", bind.Source, "rbind", "ro", "nosuid", "nodev"),
        WritableBind { NoExec: true } bind => Mount(bind.Target, "bind", bind.Source, "bind", "rw", "nosuid", "nodev", "noexec"),
        WritableBind bind => Mount(bind.Target, "bind", bind.Source, "bind", "rw", "nosuid", "nodev"),
        WorkspaceMount workspace => Mount(workspace.Target, "bind", workspace.Source, "rbind", "rw", "nosuid", "nodev"),
        // OCI has no symlink mount: the skeleton root (GvisorLayout) holds the links.
        _ => throw new ArgumentException($"runsc cannot make {mount}.", nameof(mount)),
    };

    internal static string Octal(UnixFileMode mode) => Convert.ToString((int)mode, 8);

    private static JsonObject Mount(string destination, string type, string source, params string[] options) => new()
    {
        ["destination"] = destination, ["type"] = type, ["source"] = source,
        ["options"] = new JsonArray([.. options.Select(o => (JsonNode)o)]),
    };

    private static JsonObject Rlimit(string type, long soft, long hard) => new() { ["type"] = type, ["soft"] = soft, ["hard"] = hard };
}
