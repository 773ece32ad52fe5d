namespace Warden.Sandbox.Tests.Infrastructure;

/// <summary>Counts of what sandboxes leave on the host, to compare before and after an engine's lifetime.</summary>
internal sealed record HostSnapshot(int CgroupDirectories, int Mounts, int SandboxProcesses, int DockerObjects)
{
    public override string ToString() =>
        $"cgroups={CgroupDirectories}, mounts={Mounts}, bwrap/warden-exec={SandboxProcesses}, docker containers/volumes={DockerObjects}";
}

/// <summary>Finds cgroups, mounts and processes an engine instance left behind.</summary>
internal static class HostLeaks
{
    private const string CgroupRoot = "/sys/fs/cgroup";
    private const string StateRun = "/var/lib/warden/run";

    /// <summary>
    /// What every engine of this test process holds now. Counting is limited to this process's instances (named
    /// <c>{pid}-{start time}-{n}</c>) because other Warden processes (a server, a benchmark) may share the host.
    /// </summary>
    public static HostSnapshot Take()
    {
        var prefix = OwnInstancePrefix();
        var memoryRoot = $"{CgroupRoot}/memory/warden";
        return new HostSnapshot(
            Directory.Exists(memoryRoot)
                ? Directory.GetDirectories(memoryRoot).Where(d => Path.GetFileName(d).StartsWith(prefix, StringComparison.Ordinal))
                    .Sum(d => 1 + Directory.GetDirectories(d, "*", SearchOption.AllDirectories).Length)
                : 0,
            MountPoints().Count(m => m.StartsWith($"{StateRun}/{prefix}", StringComparison.Ordinal)),
            HostProcesses.Named("bwrap", "warden-exec").Count(pid => HostProcesses.CommandLine(pid)?.Contains(prefix, StringComparison.Ordinal) == true),
            Infrastructure.DockerObjects.Named("warden-" + prefix).Count);
    }

    /// <summary>The start of every instance name this process gives out: its pid and start time (field 22 of stat).</summary>
    private static string OwnInstancePrefix()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        var startTime = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19];
        return $"{Environment.ProcessId}-{startTime}-";
    }

    /// <summary>Everything still on the host that belongs to <paramref name="instance"/>; empty when it cleaned up.</summary>
    public static List<string> ForInstance(string instance)
    {
        var leaks = new List<string>();
        if (Directory.Exists(CgroupRoot))
        {
            foreach (var hierarchy in Directory.GetDirectories(CgroupRoot))
            {
                var dir = Path.Combine(hierarchy, "warden", instance);
                if (Directory.Exists(dir)) leaks.Add($"cgroup {dir}");
            }
        }
        leaks.AddRange(MountPoints().Where(m => m.Contains($"/{instance}/", StringComparison.Ordinal) || m.EndsWith("/" + instance, StringComparison.Ordinal))
            .Select(m => $"mount {m}"));
        // Every helper and bwrap of an instance names its cgroups or workspace, both of which contain the instance name.
        leaks.AddRange(HostProcesses.WithCommandLine(instance).Select(pid => $"process {pid}"));
        if (Directory.Exists(Path.Combine(StateRun, instance))) leaks.Add($"directory {Path.Combine(StateRun, instance)}");
        leaks.AddRange(Infrastructure.DockerObjects.Named(instance));
        return leaks;
    }

    private static IEnumerable<string> MountPoints() =>
        File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' ')).Where(f => f.Length > 4).Select(f => f[4]);
}
