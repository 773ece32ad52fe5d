using System.Text.Json.Nodes;
using Warden.Core.Limits;
using Warden.Core.Sandboxing.Seccomp;

namespace Warden.Core.Sandboxing.Gvisor;

/// <summary>Builds the OCI runtime spec (<c>config.json</c>) of one gVisor run. Pure, so tests can read every decision.</summary>
internal static class OciSpec
{
    public const string Workspace = "/sandbox";

    /// <param name="exitReport">A warm sandbox's exit report FIFO on the host (see <see cref="Slots.ExitReport"/>).</param>
    /// <param name="session">A session sandbox's own workspace path, identity files and read-only binds.</param>
    public static JsonObject Build(GvisorLayout layout, string hostWorkspace, int uid, ResourceLimits limits, SandboxCommand command,
        string? exitReport = null, OciSessionMounts? session = null)
    {
        var workspace = session?.Workspace ?? Workspace;
        var mounts = new JsonArray
        {
            Mount("/proc", "proc", "proc", "nosuid", "noexec", "nodev"),
            Mount("/dev", "tmpfs", "tmpfs", "nosuid", "mode=755", "size=65536k"),
            Mount("/tmp", "tmpfs", "tmpfs", "nosuid", "nodev", "mode=1777", $"size={limits.TmpBytes / 1024}k"),
        };
        foreach (var path in layout.ReadOnlyBinds) mounts.Add(Mount(path, "bind", path, "rbind", "ro", "nosuid", "nodev"));
        foreach (var (source, destination) in session?.IdentityFiles ?? layout.Files) mounts.Add(Mount(destination, "bind", source, "bind", "ro"));
        foreach (var (source, destination) in session?.ReadOnlyBinds ?? []) mounts.Add(Mount(destination, "bind", source, "rbind", "ro", "nosuid", "nodev"));
        mounts.Add(Mount(workspace, "bind", hostWorkspace, "rbind", "rw", "nosuid", "nodev"));
        if (exitReport is not null) mounts.Add(Mount(Slots.ExitReport.SandboxPath, "bind", exitReport, "bind", "rw", "nosuid", "nodev", "noexec"));

        var namespaces = new JsonArray { Ns("pid"), Ns("ipc"), Ns("uts"), Ns("mount") };
        if (!limits.Network) namespaces.Add(Ns("network"));

        long cpu = Math.Max(1, (long)Math.Ceiling(limits.CpuTime.TotalSeconds));
        return new JsonObject
        {
            ["ociVersion"] = "1.0.2",
            ["process"] = new JsonObject
            {
                ["terminal"] = false,
                ["user"] = new JsonObject { ["uid"] = uid, ["gid"] = uid },
                ["args"] = new JsonArray([.. command.Argv.Select(a => (JsonNode)a)]),
                ["env"] = new JsonArray([.. command.Environment.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (JsonNode)$"{kv.Key}={kv.Value}")]),
                ["cwd"] = workspace,
                ["capabilities"] = new JsonObject
                {
                    ["bounding"] = new JsonArray(), ["effective"] = new JsonArray(), ["inheritable"] = new JsonArray(),
                    ["permitted"] = new JsonArray(), ["ambient"] = new JsonArray(),
                },
                ["rlimits"] = new JsonArray
                {
                    Rlimit("RLIMIT_NOFILE", limits.MaxOpenFiles, limits.MaxOpenFiles),
                    Rlimit("RLIMIT_CORE", 0, 0),
                    Rlimit("RLIMIT_FSIZE", limits.MaxFileBytes, limits.MaxFileBytes),
                    Rlimit("RLIMIT_CPU", cpu, cpu + 1),
                    // The host pids cgroup sees gVisor's threads, not the program's processes: limit those inside.
                    Rlimit("RLIMIT_NPROC", limits.MaxProcesses, limits.MaxProcesses),
                },
                ["noNewPrivileges"] = true,
            },
            ["root"] = new JsonObject { ["path"] = layout.RootFs, ["readonly"] = true },
            ["hostname"] = "sandbox",
            ["mounts"] = mounts,
            ["linux"] = new JsonObject
            {
                ["namespaces"] = namespaces,
                ["maskedPaths"] = new JsonArray("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/sys/firmware"),
                ["readonlyPaths"] = new JsonArray("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"),
                // gVisor ignores errnoRet (every denial is EPERM), so no clone3 → ENOSYS rule: glibc would not fall back to
                // clone on EPERM and no thread could start. syslog is allowed: it reads the Sentry's log, never the host's.
                ["seccomp"] = SeccompProfileJson.Build(limits.Network, denyClone3: false, allowSyslog: true),
            },
        };
    }

    private static JsonObject Mount(string destination, string type, string source, params string[] options) => new()
    {
        ["destination"] = destination, ["type"] = type, ["source"] = source,
        ["options"] = new JsonArray([.. options.Select(o => (JsonNode)o)]),
    };

    private static JsonObject Ns(string type) => new() { ["type"] = type };

    private static JsonObject Rlimit(string type, long soft, long hard) => new() { ["type"] = type, ["soft"] = soft, ["hard"] = hard };
}
