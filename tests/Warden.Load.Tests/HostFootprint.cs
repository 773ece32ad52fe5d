namespace Warden.Load.Tests;

/// <summary>What a server with state directory <c>state</c> holds on the host, counted the way an operator would look.</summary>
internal sealed record HostFootprint(int Processes, int Cgroups, int Mounts, int RunDirectories)
{
    public static HostFootprint Take(string state, string? instance)
    {
        // The warm pool starts and retires sandboxes while the test looks: a directory that goes away mid-walk is counted again.
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return Count(state, instance);
            }
            catch (DirectoryNotFoundException) when (attempt < 20)
            {
                Thread.Sleep(50);
            }
        }
    }

    /// <summary>The cgroup hierarchies the instance has a directory in (one on cgroup v2, one per controller on v1).</summary>
    public static int Hierarchies(string instance) =>
        Directory.Exists("/sys/fs/cgroup") ? Directory.GetDirectories("/sys/fs/cgroup").Count(h => Directory.Exists(Path.Combine(h, "warden", instance))) : 0;

    private static HostFootprint Count(string state, string? instance)
    {
        int processes = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out _)) continue;
            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                // Helpers and bwrap name their workspace (under the state directory) or their cgroup (the instance).
                if (!cmdline.Contains(" serve", StringComparison.Ordinal) && (cmdline.Contains(state, StringComparison.Ordinal)
                    || (instance is not null && cmdline.Contains(instance, StringComparison.Ordinal)))) processes++;
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        int cgroups = 0;
        if (instance is not null)
        {
            foreach (var hierarchy in Directory.Exists("/sys/fs/cgroup") ? Directory.GetDirectories("/sys/fs/cgroup") : [])
            {
                var dir = Path.Combine(hierarchy, "warden", instance);
                if (Directory.Exists(dir)) cgroups += 1 + Directory.GetDirectories(dir, "*", SearchOption.AllDirectories).Length;
            }
        }
        int mounts = File.ReadLines("/proc/self/mountinfo").Count(l => l.Split(' ')[4].StartsWith(state + "/", StringComparison.Ordinal));
        var run = Path.Combine(state, "run");
        int runDirs = Directory.Exists(run) ? Directory.GetDirectories(run, "*", SearchOption.AllDirectories).Length : 0;
        return new HostFootprint(processes, cgroups, mounts, runDirs);
    }
}
