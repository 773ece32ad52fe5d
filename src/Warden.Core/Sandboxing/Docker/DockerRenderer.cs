using System.Globalization;
using System.Text.Json.Nodes;
using Warden.Core.Sandboxing.Gvisor;
using Warden.Core.Sandboxing.Seccomp;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Docker;

/// <summary>
/// Renders a <see cref="SandboxSpec"/> as the Engine API bodies Docker takes: the workspace volume, the keeper
/// container that holds the sandbox open, its cgroup resources, and one exec per stage. Pure: tests read every
/// isolation decision here.
/// </summary>
internal static class DockerRenderer
{
    public const string ManagedLabel = "dev.warden.managed";
    public const string InstanceLabel = "dev.warden.instance";

    /// <summary>
    /// The spec's workspace as a size-capped tmpfs volume: it lives while a container holds it mounted. Docker creates
    /// it, so its size, file count, owner and mode are set here (bwrap and gVisor get theirs from the slot).
    /// </summary>
    public static JsonObject Volume(SandboxSpec spec, string instance)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var workspace = spec.Workspace;
        long bytes = workspace.SizeBytes ?? throw new ArgumentException("A Docker workspace volume needs a size.", nameof(spec));
        return Volume(workspace.Source, bytes, spec.User, instance);
    }

    /// <summary>A size-capped tmpfs volume named <paramref name="name"/>, owned by <paramref name="user"/>.</summary>
    public static JsonObject Volume(string name, long bytes, SandboxUser user, string instance)
    {
        ArgumentNullException.ThrowIfNull(user);
        return new JsonObject
        {
            ["Name"] = name,
            ["Driver"] = "local",
            ["DriverOpts"] = new JsonObject
            {
                ["type"] = "tmpfs", ["device"] = "tmpfs",
                ["o"] = $"size={Str(bytes)},nr_inodes={Str(Limits.ResourceLimits.InodesFor(bytes))},uid={Str(user.Uid)},gid={Str(user.Gid)},mode=0700,nosuid,nodev",
            },
            ["Labels"] = Labels(instance),
        };
    }

    /// <summary>
    /// The workspace volume's own options on the container's mount too: the daemon creates a volume a mount names when
    /// it does not exist, and without these it would be a plain directory on the host's disk, unsized and unlabelled
    /// (so never reaped). Warden creates the volume first; this keeps any volume the container gets the one it meant.
    /// </summary>
    private static JsonObject VolumeOptions(string name, long bytes, SandboxUser user, string instance)
    {
        var volume = Volume(name, bytes, user, instance);
        return new JsonObject
        {
            ["Labels"] = volume["Labels"]!.DeepClone(),
            ["DriverConfig"] = new JsonObject { ["Name"] = "local", ["Options"] = volume["DriverOpts"]!.DeepClone() },
        };
    }

    /// <summary>
    /// The keeper: a container that only holds the sandbox (namespaces, cgroup, workspace volume) open, running the
    /// spec's program (an idle one); every stage runs in it with <see cref="Exec"/>. Read-only root, no capabilities,
    /// no-new-privileges, Warden's seccomp profile.
    /// </summary>
    /// <param name="runtime">The OCI runtime (runsc for Docker + gVisor); empty for the daemon's default.</param>
    public static JsonObject Keeper(SandboxSpec spec, string instance, string runtime)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(runtime);
        if (spec.Root is not ImageRoot image) throw new ArgumentException($"A container's root is an image, not {spec.Root}.", nameof(spec));
        var tmpfs = new JsonObject();
        var mounts = new JsonArray();
        foreach (var mount in spec.Mounts)
        {
            switch (mount)
            {
                // Docker makes the container's /proc (masking the host's sensitive entries) and a minimal /dev itself.
                case ProcMount or DevMount: break;
                case TmpfsMount t:
                    tmpfs[t.Target] = $"rw,nosuid,nodev,size={Str(t.SizeBytes)},nr_inodes={Str(t.Inodes)},mode={OciRenderer.Octal(t.Mode)}";
                    break;
                // A sized workspace is the volume Warden creates (Volume); an unsized one a host directory (a persistent home).
                case WorkspaceMount { SizeBytes: { } size } w:
                    mounts.Add((JsonNode)new JsonObject { ["Type"] = "volume", ["Source"] = w.Source, ["Target"] = w.Target, ["VolumeOptions"] = VolumeOptions(w.Source, size, spec.User, instance) });
                    break;
                case WorkspaceMount w:
                    mounts.Add((JsonNode)new JsonObject { ["Type"] = "bind", ["Source"] = w.Source, ["Target"] = w.Target, ["ReadOnly"] = false });
                    break;
                // A bind of a missing source fails the container: optional paths belong in the image.
                case ReadOnlyBind { IfPresent: false } b:
                    mounts.Add((JsonNode)new JsonObject { ["Type"] = "bind", ["Source"] = b.Source, ["Target"] = b.Target, ["ReadOnly"] = true });
                    break;
                case WritableBind { NoExec: false } b:
                    mounts.Add((JsonNode)new JsonObject { ["Type"] = "bind", ["Source"] = b.Source, ["Target"] = b.Target, ["ReadOnly"] = false });
                    break;
                default: throw new ArgumentException($"A Docker keeper cannot make {mount}.", nameof(spec));
            }
        }
        var host = new JsonObject
        {
            ["NetworkMode"] = NetworkMode(spec),
            ["ReadonlyRootfs"] = true,
            ["CapDrop"] = new JsonArray("ALL"),
            ["SecurityOpt"] = new JsonArray("no-new-privileges",
                "seccomp=" + SeccompProfileJson.Build(spec.Seccomp.AllowInetSockets, SeccompProfileOptions.HostKernel).ToJsonString()),
            ["Tmpfs"] = tmpfs,
            ["Mounts"] = mounts,
            ["Init"] = true, // tini as pid 1 reaps whatever the stages orphan
            // Docker always gives a container its own pid, uts and mount namespaces; ipc is shareable unless made private.
            // No user namespace unless the daemon remaps: the uid is then a host uid, hence one leased per container.
            ["IpcMode"] = "private",
            // The daemon's default log driver writes everything the container's own process prints to a file on the host,
            // unbounded, for the container's life: a session's kernel is that process, so a flood would fill the host's
            // disk. Warden reads the output over the attached stream; the daemon keeps none of it.
            ["LogConfig"] = new JsonObject { ["Type"] = "none", ["Config"] = new JsonObject() },
            // No RLIMIT_CPU (it would count the idle keeper's time; each exec sets its own) and no RLIMIT_NPROC (it counts
            // every process of the uid on the host, across containers): the container's pids cgroup counts its processes.
            ["Ulimits"] = new JsonArray(
                Ulimit("nofile", spec.Rlimits.OpenFiles), Ulimit("core", spec.Rlimits.CoreBytes), Ulimit("fsize", spec.Rlimits.FileSizeBytes)),
        };
        foreach (var (k, v) in Resources(spec.Cgroup)) host[k] = v?.DeepClone();
        if (runtime.Length > 0) host["Runtime"] = runtime;
        return new JsonObject
        {
            ["Image"] = image.Image,
            ["Cmd"] = new JsonArray([.. spec.Argv.Select(a => (JsonNode)a)]),
            ["User"] = User(spec.User),
            ["WorkingDir"] = spec.WorkingDirectory,
            ["Hostname"] = spec.Hostname,
            ["Env"] = Environment(spec),
            // Egress keeps Docker's "none" network set up (lo up) for the listener Warden adds; without egress none at all.
            ["NetworkDisabled"] = spec.Network == NetworkPolicy.None,
            ["Labels"] = Labels(instance),
            ["HostConfig"] = host,
        };
    }

    /// <summary>cgroup limits of the container, also sent with /update before each stage. Memory without swap.</summary>
    public static JsonObject Resources(SandboxCgroupLimits cgroup)
    {
        ArgumentNullException.ThrowIfNull(cgroup);
        return new JsonObject
        {
            ["Memory"] = cgroup.MemoryBytes,
            ["MemorySwap"] = cgroup.MemoryBytes,
            ["PidsLimit"] = cgroup.Pids,
            ["NanoCpus"] = (long)(cgroup.Cpus * 1e9),
        };
    }

    /// <summary>
    /// One stage: the spec's program in the keeper, under the spec's rlimits set by prlimit (ulimits cannot change on a
    /// running container). The keeper's mounts, namespaces and cgroup apply; its own program is not this one.
    /// </summary>
    public static JsonObject Exec(SandboxSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var r = spec.Rlimits;
        // env -u HOSTNAME: the daemon adds HOSTNAME to every exec; the program's environment must be exactly Warden's.
        var argv = new JsonArray("/usr/bin/env", "-u", "HOSTNAME", "/usr/bin/prlimit", $"--cpu={Str(r.CpuSoftSeconds)}:{Str(r.CpuHardSeconds)}",
            $"--fsize={Str(r.FileSizeBytes)}", $"--nofile={Str(r.OpenFiles)}", $"--core={Str(r.CoreBytes)}", "--");
        foreach (var a in spec.Argv) argv.Add((JsonNode)a);
        return new JsonObject
        {
            ["Cmd"] = argv,
            ["Env"] = Environment(spec),
            ["User"] = User(spec.User),
            ["WorkingDir"] = spec.WorkingDirectory,
            ["AttachStdin"] = true, ["AttachStdout"] = true, ["AttachStderr"] = true, ["Tty"] = false, ["Privileged"] = false,
        };
    }

    /// <summary>
    /// "none" keeps a container to its own loopback, with or without egress: for egress Warden puts its proxy listener
    /// into the keeper's namespace after start (<see cref="Networking.EgressNetwork.InsideAsync"/>), before any stage
    /// runs. Never "host", never a bridge (a bridge keeps a host address the container could reach).
    /// </summary>
    private static string NetworkMode(SandboxSpec spec)
    {
        if (!spec.Namespaces.HasFlag(SandboxNamespaces.Network))
            throw new ArgumentException($"Every sandbox has a network namespace of its own; {spec.Namespaces} has none.", nameof(spec));
        return spec.Network switch
        {
            NetworkPolicy.None => "none",
            NetworkPolicy.Egress when spec.Egress is { NamespacePath: null } => "none",
            NetworkPolicy.Egress => throw new ArgumentException("A Docker keeper's egress namespace is its own; Warden cannot hand it one.", nameof(spec)),
            _ => throw new ArgumentException($"Unknown network policy {spec.Network}.", nameof(spec)),
        };
    }

    private static JsonArray Environment(SandboxSpec spec) => [.. spec.Environment.Select(kv => (JsonNode)$"{kv.Key}={kv.Value}")];

    private static string User(SandboxUser user) => $"{Str(user.Uid)}:{Str(user.Gid)}";

    private static JsonObject Labels(string instance) => new() { [ManagedLabel] = "1", [InstanceLabel] = instance };

    private static JsonObject Ulimit(string name, long value) => new() { ["Name"] = name, ["Soft"] = value, ["Hard"] = value };

    private static string Str(long v) => v.ToString(CultureInfo.InvariantCulture);
}
