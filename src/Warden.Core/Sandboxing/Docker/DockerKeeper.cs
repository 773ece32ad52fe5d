using System.Text.Json.Nodes;
using Warden.Core.Cgroups;
using Warden.Core.Sandboxing.Slots;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Docker;

/// <summary>
/// A started container that only holds a sandbox open (namespaces, cgroup, workspace volume); stages run in it with
/// exec. Single-use: after one execution it is removed with its volume. It runs under a host uid of its own
/// (<see cref="Uid"/>), leased for as long as the container or its volume may exist.
/// </summary>
internal sealed class DockerKeeper(string id, string name, string volume, bool network, JsonObject resources, ICgroup? cgroup,
    IReadOnlyCollection<int> ownProcesses, UidLease uid)
{
    /// <summary>The container's init (tini) and the idle process it runs: everything else in its cgroup belongs to a stage.</summary>
    public IReadOnlyCollection<int> OwnProcesses { get; } = ownProcesses;

    public string Id { get; } = id;
    public string Name { get; } = name;
    public string Volume { get; } = volume;
    public bool Network { get; } = network;

    /// <summary>
    /// A keeper made for a run granted network: Warden's proxy listener inside the keeper's own namespace (Docker's
    /// "none" network, only lo), added right after start, before any stage runs. Closed when the keeper is removed.
    /// </summary>
    public Networking.EgressNetwork? Egress { get; init; }

    /// <summary>The host uid the container, its volume and its files belong to: this keeper's alone.</summary>
    public UidLease Uid { get; } = uid;

    /// <summary>The container's user: the leased uid, with a group of the same number.</summary>
    public SandboxUser User => new(Uid.Uid, Uid.Uid);

    /// <summary>The container's current cgroup limits, so a stage only calls /update when they change.</summary>
    public JsonObject Resources { get; set; } = resources;

    /// <summary>The container's own cgroup on the host (read-only use: OOM evidence, CPU time, peak memory); null if not found.</summary>
    public ICgroup? Cgroup { get; } = cgroup;

    public static ICgroup? FindCgroup(string containerId)
    {
        var support = CgroupHost.Probe();
        if (support.Version == "v1" && support.V1Mounts.TryGetValue("memory", out var memory))
        {
            var dir = Path.Combine(memory, "docker", containerId);
            if (!Directory.Exists(dir)) return null;
            string? Dir(string controller) => support.V1Mounts.TryGetValue(controller, out var m) && Directory.Exists(Path.Combine(m, "docker", containerId))
                ? Path.Combine(m, "docker", containerId) : null;
            return new CgroupV1(containerId, dir, Dir("pids") ?? dir, Dir("cpu"), Dir("cpuacct"));
        }
        foreach (var candidate in new[] { $"/sys/fs/cgroup/system.slice/docker-{containerId}.scope", $"/sys/fs/cgroup/docker/{containerId}" })
            if (Directory.Exists(candidate)) return new CgroupV2(containerId, candidate);
        return null;
    }

    /// <summary>The host pids of the container's init and of its children (the idle process) right after start.</summary>
    public static IReadOnlyCollection<int> ProcessesOf(int initPid)
    {
        var pids = new HashSet<int> { initPid };
        try
        {
            foreach (var child in File.ReadAllText($"/proc/{initPid}/task/{initPid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries))
                pids.Add(int.Parse(child, System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (IOException) { }
        return pids;
    }

    public static bool SameResources(JsonObject a, JsonObject b) => a.ToJsonString() == b.ToJsonString();
}
