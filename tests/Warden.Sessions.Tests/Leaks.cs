namespace Warden.Sessions.Tests;

/// <summary>What a session could leave behind on the host: cgroup directories, workspace mounts, processes.</summary>
public static class Leaks
{
    /// <summary>Cgroup directories of a session (any incarnation), in every hierarchy of the backend instance.</summary>
    public static List<string> Cgroups(string instance, string sessionId)
    {
        var found = new List<string>();
        foreach (var mount in CgroupMounts())
        {
            var root = Path.Combine(mount, "warden", instance);
            if (!Directory.Exists(root)) continue;
            found.AddRange(Directory.GetDirectories(root, $"session-{sessionId}*"));
        }
        return found;
    }

    public static List<string> Mounts(string sessionId) =>
        File.ReadLines("/proc/self/mountinfo").Where(l => l.Contains($"ws-session-{sessionId}", StringComparison.Ordinal)).ToList();

    /// <summary>Processes whose cgroup membership names the session.</summary>
    public static List<int> Processes(string sessionId)
    {
        var found = new List<int>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "cgroup")).Contains($"session-{sessionId}", StringComparison.Ordinal)) found.Add(pid);
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
