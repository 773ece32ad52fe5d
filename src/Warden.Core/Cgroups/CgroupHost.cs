namespace Warden.Core.Cgroups;

/// <summary>What this host offers for resource limits, as found in /proc/self/mountinfo.</summary>
public sealed record CgroupSupport(string Version, bool Usable, string Detail)
{
    internal IReadOnlyDictionary<string, string> V1Mounts { get; init; } = new Dictionary<string, string>();
    internal string? V2Path { get; init; }
}

/// <summary>Finds the host's cgroup layout and opens Warden's subtree in it.</summary>
internal static class CgroupHost
{
    public const string TreeName = "warden";
    /// <summary>The controllers Warden needs, under either cgroup version.</summary>
    private static readonly string[] RequiredControllers = ["memory", "pids"];

    public static CgroupSupport Probe()
    {
        var v1 = new Dictionary<string, string>();
        string? v2 = null;
        foreach (var line in SafeReadLines("/proc/self/mountinfo"))
        {
            var sep = line.IndexOf(" - ", StringComparison.Ordinal);
            if (sep < 0) continue;
            var left = line[..sep].Split(' ');
            var right = line[(sep + 3)..].Split(' ');
            if (left.Length < 5 || right.Length < 3) continue;
            var mountPoint = left[4];
            if (right[0] == "cgroup")
            {
                foreach (var option in right[2].Split(','))
                    if (option is "memory" or "pids" or "cpu" or "cpuacct") v1.TryAdd(option, mountPoint);
            }
            else if (right[0] == "cgroup2" && (v2 is null || mountPoint == "/sys/fs/cgroup")) v2 = mountPoint;
        }

        if (RequiredControllers.All(v1.ContainsKey))
        {
            var writable = RequiredControllers.All(c => IsWritable(v1[c]));
            return new CgroupSupport("v1", writable, writable
                ? $"cgroup v1: memory at {v1["memory"]}, pids at {v1["pids"]}" + (v1.ContainsKey("cpu") ? ", cpu" : ", no cpu controller")
                : $"cgroup v1 is mounted read-only or not writable by uid {Interop.Libc.geteuid()}")
            { V1Mounts = v1 };
        }
        if (v2 is not null)
        {
            var own = OwnV2Cgroup(v2);
            var controllers = SafeRead(Path.Combine(v2, "cgroup.controllers"));
            var missing = RequiredControllers.Where(c => !controllers.Split(' ').Contains(c)).ToArray();
            if (missing.Length > 0)
                return new CgroupSupport("v2", false, $"cgroup v2 at {v2} lacks the {string.Join(", ", missing)} controller(s) (v1 may own them)");
            var writable = IsWritable(own);
            return new CgroupSupport("v2", writable, writable
                ? $"cgroup v2 at {own}"
                : $"cgroup v2 subtree {own} is not writable (delegate it: systemd Delegate=yes, or mount /sys/fs/cgroup read-write)")
            { V2Path = own };
        }
        return new CgroupSupport("none", false, "no cgroup filesystem with the memory and pids controllers is mounted");
    }

    /// <summary>Opens <c>warden/{instance}</c> in every hierarchy.</summary>
    public static ICgroupTree Open(CgroupSupport support, string instance)
    {
        var relative = $"{TreeName}/{instance}";
        return support.Version switch
        {
            "v1" => new CgroupV1Tree(support.V1Mounts, relative),
            "v2" => new CgroupV2Tree(support.V2Path!, relative),
            _ => throw new InvalidOperationException(support.Detail),
        };
    }

    /// <summary>Kills and removes the cgroups of instances whose process is gone (a crash, a kill -9).</summary>
    public static int ReapStale(CgroupSupport support, Func<string, bool> isAlive)
    {
        if (!support.Usable) return 0;
        var roots = support.Version == "v1" ? support.V1Mounts.Values.Distinct().Select(m => Path.Combine(m, TreeName))
            : [Path.Combine(support.V2Path!, TreeName)];
        int reaped = 0;
        foreach (var root in roots.Where(Directory.Exists))
        {
            foreach (var instanceDir in Directory.GetDirectories(root))
            {
                if (isAlive(Path.GetFileName(instanceDir))) continue;
                string[] slots;
                // Another instance starting at the same time may be reaping the same dead one: gone is reaped.
                try { slots = Directory.GetDirectories(instanceDir); }
                catch (DirectoryNotFoundException) { continue; }
                foreach (var slot in slots)
                {
                    var procs = Path.Combine(slot, "cgroup.procs");
                    for (int round = 0; round < 100; round++)
                    {
                        var pids = CgroupFiles.ReadPids(procs);
                        if (pids.Count == 0) break;
                        foreach (var pid in pids) Interop.Libc.kill(pid, Interop.Libc.SIGKILL);
                        Thread.Sleep(5);
                    }
                    CgroupFiles.RemoveDirectory(slot);
                    reaped++;
                }
                CgroupFiles.RemoveDirectory(instanceDir);
            }
        }
        return reaped;
    }

    private static string OwnV2Cgroup(string mount)
    {
        foreach (var line in SafeReadLines("/proc/self/cgroup"))
            if (line.StartsWith("0::", StringComparison.Ordinal)) return Path.Combine(mount, line[3..].TrimStart('/'));
        return mount;
    }

    private static bool IsWritable(string dir) => Interop.Libc.access(dir, 2 /* W_OK */) == 0;

    private static string SafeRead(string path)
    {
        try { return File.ReadAllText(path).Trim(); } catch (IOException) { return ""; }
    }

    private static string[] SafeReadLines(string path)
    {
        try { return File.ReadAllLines(path); } catch (IOException) { return []; }
    }
}
