using System.Globalization;

namespace Warden.Server.Tests.Fuzz;

/// <summary>
/// What one server instance has on the host, the way an operator would look: processes (named by their command and the
/// instance cgroup they run in), mounts, cgroup directories and the entries of its run directory. Compared before and
/// after the fuzz, and once more after the server stopped (when nothing may be left at all).
/// </summary>
internal sealed record HostLeftovers(IReadOnlyList<string> Processes, IReadOnlyList<string> Mounts, IReadOnlyList<string> Cgroups,
    IReadOnlyList<string> Directories)
{
    public static readonly HostLeftovers None = new([], [], [], []);

    public static HostLeftovers Of(string instance, string runDirectory) => new(
        ProcessesOf(instance), MountsOf(instance), CgroupsOf(instance),
        Directory.Exists(runDirectory) ? [.. Directory.EnumerateFileSystemEntries(runDirectory).Select(e => Path.GetFileName(e)).Order()] : []);

    /// <summary>Everything here that <paramref name="before"/> did not have (processes counted, so a second copy is new).</summary>
    public List<string> NewSince(HostLeftovers before)
    {
        var found = new List<string>();
        var remaining = before.Processes.GroupBy(p => p).ToDictionary(g => g.Key, g => g.Count());
        foreach (var p in Processes)
        {
            if (remaining.TryGetValue(p, out var n) && n > 0) remaining[p] = n - 1;
            else found.Add("process " + p);
        }
        found.AddRange(Mounts.Except(before.Mounts).Select(m => "mount " + m));
        found.AddRange(Cgroups.Except(before.Cgroups).Select(c => "cgroup " + c));
        found.AddRange(Directories.Except(before.Directories).Select(d => "run directory entry " + d));
        return found;
    }

    /// <summary>Processes whose command line or cgroup names the instance, as "comm [cgroup leaf]" (pids change, kinds should not).</summary>
    private static List<string> ProcessesOf(string instance)
    {
        var found = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId || !IsAlive(pid)) continue;
            var cgroup = Read($"/proc/{pid}/cgroup") ?? "";
            var cmdline = Read($"/proc/{pid}/cmdline") ?? "";
            var at = cgroup.IndexOf(instance, StringComparison.Ordinal);
            if (at < 0 && !cmdline.Contains(instance, StringComparison.Ordinal)) continue;
            var leaf = at < 0 ? "-" : cgroup[(at + instance.Length)..].TrimStart('/').Split('\n', '/')[0];
            found.Add($"{Read($"/proc/{pid}/comm")?.Trim()} [{(leaf.Length == 0 ? "-" : leaf)}]");
        }
        return found;
    }

    private static List<string> MountsOf(string instance) =>
        File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).Where(m => m.Contains(instance, StringComparison.Ordinal)).Order().ToList();

    private static List<string> CgroupsOf(string instance)
    {
        var found = new List<string>();
        var roots = Directory.Exists("/sys/fs/cgroup") ? Directory.GetDirectories("/sys/fs/cgroup").Append("/sys/fs/cgroup") : [];
        foreach (var root in roots)
        {
            var dir = Path.Combine(root, "warden", instance);
            if (!Directory.Exists(dir)) continue;
            found.Add(dir);
            try
            {
                found.AddRange(Directory.EnumerateDirectories(dir, "*", SearchOption.AllDirectories));
            }
            catch (DirectoryNotFoundException)
            {
                // Removed while listed: it is gone, which is what is checked.
            }
        }
        return found.Order().ToList();
    }

    /// <summary>Live children of the test process (an in-process server's helpers and sandboxes are its children).</summary>
    public static List<string> ChildrenOfTestProcess() =>
        ChildrenOf(Environment.ProcessId).Select(pid => $"{pid} {Read($"/proc/{pid}/cmdline")?.Replace('\0', ' ').Trim()}").ToList();

    private static List<int> ChildrenOf(int parent)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || !IsAlive(pid)) continue;
            var stat = Read($"/proc/{pid}/stat");
            if (stat is null) continue;
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (int.Parse(fields[1], CultureInfo.InvariantCulture) == parent) found.Add(pid);
        }
        return found;
    }

    /// <summary>Zombies hold no memory, files or mounts, only a pid until their parent reaps them.</summary>
    private static bool IsAlive(int pid) => Read($"/proc/{pid}/stat") is { } stat && stat[(stat.LastIndexOf(')') + 2)] != 'Z';

    private static string? Read(string path)
    {
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }
}
