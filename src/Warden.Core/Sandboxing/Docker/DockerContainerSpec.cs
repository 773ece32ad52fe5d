using System.Globalization;
using System.Text.Json.Nodes;
using Warden.Core.Limits;
using Warden.Core.Sandboxing.Seccomp;

namespace Warden.Core.Sandboxing.Docker;

/// <summary>The Engine API bodies Warden sends. Pure: tests read every isolation decision here.</summary>
internal static class DockerContainerSpec
{
    public const string Workspace = "/sandbox";
    public const string ManagedLabel = "dev.warden.managed";
    public const string InstanceLabel = "dev.warden.instance";

    /// <summary>A size-capped tmpfs volume for the workspace: it lives while a container holds it mounted.</summary>
    public static JsonObject Volume(string name, string instance, long bytes, string user) => new()
    {
        ["Name"] = name,
        ["Driver"] = "local",
        ["DriverOpts"] = new JsonObject
        {
            ["type"] = "tmpfs", ["device"] = "tmpfs",
            ["o"] = $"size={bytes},nr_inodes={ResourceLimits.InodesFor(bytes)},uid={user.Split(':')[0]},gid={user.Split(':')[^1]},mode=0700,nosuid,nodev",
        },
        ["Labels"] = new JsonObject { [ManagedLabel] = "1", [InstanceLabel] = instance },
    };

    /// <summary>
    /// The keeper: a container that only holds the sandbox (namespaces, cgroup, workspace volume) open; every stage runs
    /// in it with exec. Read-only root, no capabilities, no-new-privileges, Warden's seccomp profile, no network.
    /// </summary>
    public static JsonObject Keeper(string image, string user, string volume, string instance, ResourceLimits limits, string runtime)
    {
        var host = new JsonObject
        {
            ["NetworkMode"] = limits.Network ? "host" : "none",
            ["ReadonlyRootfs"] = true,
            ["CapDrop"] = new JsonArray("ALL"),
            ["SecurityOpt"] = new JsonArray("no-new-privileges",
                "seccomp=" + SeccompProfileJson.Build(limits.Network, denyClone3: true, allowSyslog: false).ToJsonString()),
            ["Tmpfs"] = new JsonObject { ["/tmp"] = $"rw,nosuid,nodev,size={limits.TmpBytes},nr_inodes={ResourceLimits.InodesFor(limits.TmpBytes)},mode=1777" },
            ["Mounts"] = new JsonArray(new JsonObject { ["Type"] = "volume", ["Source"] = volume, ["Target"] = Workspace }),
            ["Init"] = true, // tini as pid 1 reaps whatever the stages orphan
            ["IpcMode"] = "private",
            ["Ulimits"] = new JsonArray(
                Ulimit("nofile", limits.MaxOpenFiles), Ulimit("core", 0), Ulimit("fsize", limits.MaxFileBytes)),
        };
        foreach (var (k, v) in Resources(limits)) host[k] = v?.DeepClone();
        if (runtime.Length > 0) host["Runtime"] = runtime;
        return new JsonObject
        {
            ["Image"] = image,
            ["Cmd"] = new JsonArray("/bin/sleep", "infinity"),
            ["User"] = user,
            ["WorkingDir"] = Workspace,
            ["Hostname"] = "sandbox",
            ["Env"] = new JsonArray("PATH=/usr/local/bin:/usr/bin:/bin"),
            ["NetworkDisabled"] = !limits.Network,
            ["Labels"] = new JsonObject { [ManagedLabel] = "1", [InstanceLabel] = instance },
            ["HostConfig"] = host,
        };
    }

    /// <summary>cgroup limits of the container, also sent with /update before each stage. Memory without swap.</summary>
    public static JsonObject Resources(ResourceLimits limits) => new()
    {
        ["Memory"] = limits.MemoryBytes,
        ["MemorySwap"] = limits.MemoryBytes,
        ["PidsLimit"] = limits.MaxProcesses,
        ["NanoCpus"] = (long)(limits.Cpus * 1e9),
    };

    /// <summary>One stage: the command under per-stage rlimits (ulimits cannot change on a running container).</summary>
    public static JsonObject Exec(SandboxCommand command, ResourceLimits limits, string user)
    {
        long cpu = Math.Max(1, (long)Math.Ceiling(limits.CpuTime.TotalSeconds));
        // env -u HOSTNAME: the daemon adds HOSTNAME to every exec; the program's environment must be exactly Warden's.
        var argv = new JsonArray("/usr/bin/env", "-u", "HOSTNAME", "/usr/bin/prlimit", $"--cpu={cpu}:{cpu + 1}", $"--fsize={limits.MaxFileBytes}", $"--nofile={limits.MaxOpenFiles}",
            "--core=0", "--");
        foreach (var a in command.Argv) argv.Add(a);
        return new JsonObject
        {
            ["Cmd"] = argv,
            ["Env"] = new JsonArray([.. command.Environment.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (JsonNode)$"{kv.Key}={kv.Value}")]),
            ["User"] = user,
            ["WorkingDir"] = Workspace,
            ["AttachStdin"] = true, ["AttachStdout"] = true, ["AttachStderr"] = true, ["Tty"] = false, ["Privileged"] = false,
        };
    }

    private static JsonObject Ulimit(string name, long value) => new()
    {
        ["Name"] = name, ["Soft"] = value, ["Hard"] = value,
    };

    public static string Str(long v) => v.ToString(CultureInfo.InvariantCulture);
}
