using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Warden.Core.Cgroups;

namespace Warden.Benchmarks;

/// <summary>Facts about the machine and the tools, recorded with the numbers because the numbers mean little without them.</summary>
internal sealed record Machine(IReadOnlyList<(string Name, string Value)> Facts)
{
    public static Machine Describe(string repository) => new(
    [
        ("Processors (nproc)", Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)),
        ("CPU", CpuModel()),
        ("Memory", Meminfo("MemTotal")),
        ("Kernel", File.ReadAllText("/proc/sys/kernel/osrelease").Trim()),
        ("OS", OsName()),
        ("cgroups", CgroupHost.Probe().Detail),
        ("bubblewrap", Command("/usr/bin/bwrap", "--version")),
        ("python3", Command("/usr/bin/python3", "--version")),
        ("node", Command("/usr/bin/node", "--version")),
        ("bash", Command("/usr/bin/bash", "--version").Split('\n')[0]),
        (".NET", RuntimeInformation.FrameworkDescription),
        ("Warden commit", Command("/usr/bin/git", "-C", repository, "rev-parse", "--short", "HEAD") +
            (Command("/usr/bin/git", "-C", repository, "status", "--porcelain", "--untracked-files=no").Length > 0 ? " (with uncommitted changes)" : "")),
    ]);

    public static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    private static string CpuModel()
    {
        var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
        return line is null ? "unknown" : line[(line.IndexOf(':') + 1)..].Trim();
    }

    private static string Meminfo(string key)
    {
        var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith(key + ":", StringComparison.Ordinal));
        long kb = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        return $"{kb / 1024.0 / 1024.0:F1} GiB";
    }

    private static string OsName()
    {
        var line = File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal));
        return line is null ? "unknown" : line["PRETTY_NAME=".Length..].Trim('"');
    }

    private static string Command(string program, params string[] args)
    {
        try
        {
            var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in args) start.ArgumentList.Add(arg);
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            process.WaitForExit();
            return output.Trim();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"unavailable ({e.Message})";
        }
    }
}

/// <summary>
/// The machine-wide CPU counters of /proc/stat. The difference of two snapshots shows how busy the machine was while
/// the benchmark ran, and how much time the hypervisor gave to other guests (steal), which no interleaving can hide.
/// </summary>
internal sealed record CpuCounters(long Busy, long Idle, long Steal, long Own)
{
    public static CpuCounters Read()
    {
        // This process and the children it reaped (every sandbox and bare run), in the same clock ticks as /proc/stat.
        var self = File.ReadAllText("/proc/self/stat");
        var own = self[(self.LastIndexOf(')') + 2)..].Split(' ').Skip(11).Take(4).Sum(f => long.Parse(f, CultureInfo.InvariantCulture));
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        // user nice system idle iowait irq softirq steal ...
        long idle = fields[3] + fields[4];
        long steal = fields.Length > 7 ? fields[7] : 0;
        long busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6];
        return new CpuCounters(busy, idle, steal, own);
    }

    /// <summary>Shares of all CPU time between two snapshots: busy (everyone), ours (benchmark + its children), stolen.</summary>
    public static CpuShare Between(CpuCounters start, CpuCounters end)
    {
        double busy = end.Busy - start.Busy, idle = end.Idle - start.Idle, steal = end.Steal - start.Steal, own = end.Own - start.Own;
        double total = busy + idle + steal;
        return total <= 0 ? new CpuShare(0, 0, 0) : new CpuShare(100 * busy / total, 100 * Math.Min(own, busy) / total, 100 * steal / total);
    }
}

internal sealed record CpuShare(double BusyPercent, double OwnPercent, double StealPercent)
{
    public double OthersPercent => Math.Max(0, BusyPercent - OwnPercent);
}
