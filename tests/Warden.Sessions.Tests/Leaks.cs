using System.Collections.Concurrent;

namespace Warden.Sessions.Tests;

/// <summary>
/// What a session could leave behind on the host. On bwrap and gVisor: cgroup directories, workspace mounts, processes
/// in the session's cgroups. On docker the same things have other names: containers (each has its cgroup), workspace
/// volumes, processes in those containers' cgroups.
/// </summary>
public static class Leaks
{
    private static bool Docker => TestBackend.Name == "docker";

    /// <summary>Container ids seen per session, so processes can still be looked for once the containers are gone.</summary>
    private static readonly ConcurrentDictionary<string, ConcurrentBag<string>> SeenContainers = new();

    /// <summary>
    /// The session's sandboxes (any incarnation): cgroup directories in every hierarchy of the backend instance, or on
    /// docker the session names of its containers (running or stopped). Both end in <c>session-{id}-{incarnation}</c>.
    /// </summary>
    public static List<string> Sandboxes(string instance, string sessionId)
    {
        if (Docker)
        {
            var containers = DockerDaemon.Containers($"session-{sessionId}-");
            foreach (var c in containers) SeenContainers.GetOrAdd(sessionId, _ => []).Add((string)c["Id"]!);
            return containers.Select(c => (string)c["Labels"]!["dev.warden.session"]!).ToList();
        }
        var found = new List<string>();
        foreach (var mount in CgroupMounts())
        {
            var root = Path.Combine(mount, "warden", instance);
            if (!Directory.Exists(root)) continue;
            found.AddRange(Directory.GetDirectories(root, $"session-{sessionId}*"));
        }
        return found;
    }

    /// <summary>Workspace mounts of the session, or on docker its workspace volumes.</summary>
    public static List<string> Mounts(string sessionId) =>
        Docker
            ? DockerDaemon.Volumes($"session-{sessionId}-").Select(v => (string)v["Name"]!).ToList()
            : File.ReadLines("/proc/self/mountinfo").Where(l => l.Contains($"ws-session-{sessionId}", StringComparison.Ordinal)).ToList();

    /// <summary>
    /// Processes whose cgroup membership names the session, or on docker one of its containers (every container this
    /// class has seen for the session, including removed ones: a process outliving its container is the leak).
    /// </summary>
    /// <param name="instance">On bwrap and gVisor, only this backend instance's cgroups (another server on the host may
    /// run sandboxes of the same name, as warm kernels are).</param>
    public static List<int> Processes(string sessionId, string? instance = null)
    {
        if (Docker) Sandboxes("", sessionId);
        var needles = Docker ? [.. SeenContainers.GetValueOrDefault(sessionId) ?? []]
            : new List<string> { instance is null ? $"session-{sessionId}" : $"/{instance}/session-{sessionId}" };
        if (needles.Count == 0) return [];
        var found = new List<int>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var cgroup = File.ReadAllText(Path.Combine(dir, "cgroup"));
                if (needles.Any(n => cgroup.Contains(n, StringComparison.Ordinal))) found.Add(pid);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }

    private static IEnumerable<string> CgroupMounts()
    {
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var sep = line.IndexOf(" - ", StringComparison.Ordinal);
            if (sep < 0) continue;
            var type = line[(sep + 3)..].Split(' ')[0];
            if (type is "cgroup" or "cgroup2") yield return line[..sep].Split(' ')[4];
        }
    }
}
