using System.Globalization;

namespace Warden.Sandbox.Tests.Infrastructure;

/// <summary>The host's view of processes, read from /proc: how the tests look at sandboxes from outside.</summary>
internal static class HostProcesses
{
    /// <summary>Pids (other than ours) whose command line contains <paramref name="marker"/>.</summary>
    public static List<int> WithCommandLine(string marker)
    {
        var pids = new List<int>();
        foreach (var pid in All())
        {
            if (pid == Environment.ProcessId) continue;
            var cmdline = Read($"/proc/{pid}/cmdline")?.Replace('\0', ' ');
            if (cmdline is not null && cmdline.Contains(marker, StringComparison.Ordinal)) pids.Add(pid);
        }
        return pids;
    }

    /// <summary>
    /// Live (non-zombie) pids whose command name (comm) is one of <paramref name="names"/>. Zombies are left out: bwrap's
    /// outer process exits as soon as its pid-1 reports the exit code, so that pid 1 is reparented to the host's init and
    /// stays a zombie until init reaps it, which some inits (this VM's) do only now and then. A zombie holds no memory,
    /// files or mounts, only its pid.
    /// </summary>
    public static List<int> Named(params string[] names) =>
        All().Where(pid => Read($"/proc/{pid}/comm")?.Trim() is { } comm && names.Contains(comm) && IsAlive(pid)).ToList();

    public static string? CommandLine(int pid) => Read($"/proc/{pid}/cmdline")?.Replace('\0', ' ');

    /// <summary>Waits until a process with <paramref name="marker"/> in its command line appears.</summary>
    public static async Task<int> WaitForAsync(string marker, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (WithCommandLine(marker) is [var pid, ..]) return pid;
            await Task.Delay(20, cancellationToken);
        }
        throw new TimeoutException($"No host process with '{marker}' in its command line appeared within {timeout}.");
    }

    /// <summary>Real, effective, saved and filesystem uid from /proc/PID/status, or null when the process is gone.</summary>
    public static int[]? Uids(int pid)
    {
        var status = Read($"/proc/{pid}/status");
        var line = status?.Split('\n').FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal));
        return line?[4..].Split('\t', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();
    }

    /// <summary>Every pid in the same pids cgroup (v1) or unified cgroup (v2) as <paramref name="pid"/>.</summary>
    public static List<int> CgroupSiblings(int pid) =>
        CgroupDirectory(pid, "pids") is { } cgroup && Read($"{cgroup.Directory}/cgroup.procs") is { } procs
            ? procs.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => int.Parse(l, CultureInfo.InvariantCulture)).ToList()
            : [];

    /// <summary>
    /// The CPU weight of <paramref name="pid"/>'s cgroup on the default scale (cpu.shares, 1024 = default, on v1;
    /// cpu.weight, 100 = default, on v2, scaled to 1024); null when the process is gone or has no cpu controller.
    /// </summary>
    public static int? CpuWeight(int pid)
    {
        if (CgroupDirectory(pid, "cpu") is not { } cgroup) return null;
        var value = Read(Path.Combine(cgroup.Directory, cgroup.Unified ? "cpu.weight" : "cpu.shares"));
        if (value is null) return null;
        int weight = int.Parse(value.Trim(), CultureInfo.InvariantCulture);
        return cgroup.Unified ? weight * 1024 / 100 : weight;
    }

    /// <summary>
    /// The directory of <paramref name="pid"/>'s cgroup in <paramref name="controller"/>'s v1 hierarchy, else in the
    /// unified (v2) one; null when the process is gone.
    /// </summary>
    private static (string Directory, bool Unified)? CgroupDirectory(int pid, string controller)
    {
        var entries = (Read($"/proc/{pid}/cgroup")?.Split('\n', StringSplitOptions.RemoveEmptyEntries) ?? []).Select(l => l.Split(':', 3)).ToList();
        if (entries.FirstOrDefault(p => p.Length == 3 && p[1].Split(',').Contains(controller)) is { } v1)
        {
            // A co-mounted hierarchy ("cpu,cpuacct") usually has a link per controller; the mount's own name otherwise.
            var mount = Directory.Exists($"/sys/fs/cgroup/{controller}") ? controller : v1[1];
            return ($"/sys/fs/cgroup/{mount}{v1[2]}", false);
        }
        return entries.FirstOrDefault(p => p is ["0", "", _]) is { } v2 ? ($"/sys/fs/cgroup{v2[2]}", true) : null;
    }

    /// <summary>The parent pid of <paramref name="pid"/>, or null when the process is gone.</summary>
    public static int? Parent(int pid) => Read($"/proc/{pid}/stat") is { } stat
        ? int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture)
        : null;

    public static bool IsAlive(int pid) => Directory.Exists($"/proc/{pid}") && Read($"/proc/{pid}/stat") is { } stat
        && stat[(stat.LastIndexOf(')') + 2)] != 'Z';

    private static IEnumerable<int> All()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
            if (int.TryParse(Path.GetFileName(dir), out int pid)) yield return pid;
    }

    private static string? Read(string path)
    {
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }
}
