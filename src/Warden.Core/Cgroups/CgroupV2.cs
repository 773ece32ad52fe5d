using System.Globalization;
using Warden.Core.Limits;

namespace Warden.Core.Cgroups;

/// <summary>
/// cgroup v2 (unified). The "no internal processes" rule means the service cannot enable controllers for children of
/// the cgroup it sits in, so at start-up it moves itself into a leaf (<c>service</c>) next to its sandboxes.
/// </summary>
internal sealed class CgroupV2Tree : ICgroupTree
{
    private static readonly string[] Controllers = ["memory", "pids", "cpu"];
    private readonly string _root;

    public CgroupV2Tree(string ownCgroup, string relativeRoot)
    {
        var parent = ownCgroup;
        if (CgroupFiles.ReadPids(Path.Combine(parent, "cgroup.procs")).Count > 0 && parent != "/sys/fs/cgroup")
        {
            var leaf = Path.Combine(parent, "service");
            Directory.CreateDirectory(leaf);
            foreach (var pid in CgroupFiles.ReadPids(Path.Combine(parent, "cgroup.procs")))
                CgroupFiles.TryWrite(Path.Combine(leaf, "cgroup.procs"), pid.ToString(CultureInfo.InvariantCulture));
        }
        EnableControllers(parent);
        _root = parent;
        foreach (var part in relativeRoot.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            _root = Path.Combine(_root, part);
            Directory.CreateDirectory(_root);
            EnableControllers(_root);
        }
    }

    public string Version => "v2";

    public ICgroup Create(string name)
    {
        var path = Path.Combine(_root, name);
        Directory.CreateDirectory(path);
        return new CgroupV2(name, path);
    }

    public void Dispose() => CgroupFiles.RemoveDirectory(_root);

    private static void EnableControllers(string dir) =>
        CgroupFiles.Write(Path.Combine(dir, "cgroup.subtree_control"), string.Join(' ', Controllers.Select(c => "+" + c)));
}

internal sealed class CgroupV2(string name, string path) : ICgroup
{
    private long _oomBase;
    private long _cpuBase;

    public string Name => name;

    public IReadOnlyList<string> ProcsFiles { get; } = [Path.Combine(path, "cgroup.procs")];

    private (long Memory, int Processes, double Cpus)? _applied;
    private bool? _idle;

    private void Weigh(bool idle)
    {
        if (_idle == idle) return;
        _idle = null;
        CgroupFiles.TryWrite(Path.Combine(path, "cpu.weight"), idle ? "1" : "100");
        _idle = idle;
    }

    public void Apply(ResourceLimits limits, bool idle = false)
    {
        // Warden is the only writer of these files, so values it already wrote need no second write: a warm sandbox
        // armed with the limits it idles under costs no cgroupfs write on the request path.
        Weigh(idle);
        var applied = (limits.MemoryBytes, limits.MaxProcesses, limits.Cpus);
        if (_applied == applied) return;
        _applied = null;
        CgroupFiles.Write(Path.Combine(path, "memory.max"), limits.MemoryBytes.ToString(CultureInfo.InvariantCulture));
        CgroupFiles.TryWrite(Path.Combine(path, "memory.swap.max"), "0");
        // On OOM kill the whole sandbox, not one process: a half-killed program would report a misleading result.
        CgroupFiles.TryWrite(Path.Combine(path, "memory.oom.group"), "1");
        CgroupFiles.Write(Path.Combine(path, "pids.max"), limits.MaxProcesses.ToString(CultureInfo.InvariantCulture));
        const long period = 100_000;
        CgroupFiles.Write(Path.Combine(path, "cpu.max"), $"{(long)(limits.Cpus * period)} {period}");
        _applied = applied;
    }

    public CgroupCounters Baseline()
    {
        // memory.peak is resettable by writing to it since Linux 6.12; older kernels report the lifetime peak.
        CgroupFiles.TryWrite(Path.Combine(path, "memory.peak"), "0");
        _oomBase = CgroupFiles.ReadKey(Path.Combine(path, "memory.events"), "oom_kill");
        _cpuBase = CgroupFiles.ReadKey(Path.Combine(path, "cpu.stat"), "usage_usec");
        return new CgroupCounters(0, TimeSpan.Zero, 0);
    }

    public CgroupCounters Read()
    {
        long oom = CgroupFiles.ReadKey(Path.Combine(path, "memory.events"), "oom_kill") - _oomBase;
        long cpuUs = CgroupFiles.ReadKey(Path.Combine(path, "cpu.stat"), "usage_usec") - _cpuBase;
        var peakFile = Path.Combine(path, "memory.peak");
        long peak = File.Exists(peakFile) ? CgroupFiles.ReadLong(peakFile) : 0;
        return new CgroupCounters(oom, TimeSpan.FromMicroseconds(cpuUs), peak);
    }

    public Task KillAllAsync(CancellationToken cancellationToken)
    {
        // cgroup.kill (5.14+) kills everything at once, fork bombs included; the loop covers older kernels.
        CgroupFiles.TryWrite(Path.Combine(path, "cgroup.kill"), "1");
        return CgroupFiles.KillLoopAsync(ProcsFiles, [], cancellationToken);
    }

    public Task KillAllButAsync(IReadOnlyCollection<int> survivors, CancellationToken cancellationToken) =>
        CgroupFiles.KillLoopAsync(ProcsFiles, survivors, cancellationToken);

    public bool IsEmpty() => CgroupFiles.ReadPids(ProcsFiles[0]).Count == 0;

    public void Delete() => CgroupFiles.RemoveDirectory(path);
}
