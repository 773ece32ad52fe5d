using System.Globalization;
using Warden.Core.Interop;
using Warden.Core.Limits;

namespace Warden.Core.Cgroups;

/// <summary>
/// cgroup v1: separate hierarchies per controller (memory, pids, cpu, cpuacct — cpu and cpuacct may be co-mounted).
/// OOM evidence is <c>oom_kill</c> in memory.oom_control; memory.failcnt stays 0 on OOM on these kernels.
/// </summary>
internal sealed class CgroupV1Tree : ICgroupTree
{
    private readonly string _memory, _pids;
    private readonly string? _cpu, _cpuacct;

    public CgroupV1Tree(IReadOnlyDictionary<string, string> mounts, string relativeRoot)
    {
        _memory = Prepare(mounts["memory"], relativeRoot);
        _pids = Prepare(mounts["pids"], relativeRoot);
        _cpu = mounts.TryGetValue("cpu", out var cpu) ? Prepare(cpu, relativeRoot) : null;
        _cpuacct = mounts.TryGetValue("cpuacct", out var acct) ? (acct == cpu ? _cpu : Prepare(acct, relativeRoot)) : null;
    }

    public string Version => "v1";

    public ICgroup Create(string name)
    {
        var memory = Path.Combine(_memory, name);
        var pids = Path.Combine(_pids, name);
        var cpu = _cpu is null ? null : Path.Combine(_cpu, name);
        var cpuacct = _cpuacct is null ? null : Path.Combine(_cpuacct, name);
        foreach (var dir in new[] { memory, pids, cpu, cpuacct }.Distinct()) if (dir is not null) Directory.CreateDirectory(dir);
        return new CgroupV1(name, memory, pids, cpu, cpuacct);
    }

    public void Dispose()
    {
        foreach (var dir in new[] { _memory, _pids, _cpu, _cpuacct }.Distinct())
            if (dir is not null) CgroupFiles.RemoveDirectory(dir);
    }

    private static string Prepare(string mount, string relativeRoot)
    {
        var path = Path.Combine(mount, relativeRoot);
        Directory.CreateDirectory(path);
        return path;
    }
}

internal sealed class CgroupV1(string name, string memory, string pids, string? cpu, string? cpuacct) : ICgroup
{
    private readonly bool _hasMemsw = File.Exists(Path.Combine(memory, "memory.memsw.limit_in_bytes"));
    private long _oomBase;

    public string Name => name;

    public IReadOnlyList<string> ProcsFiles { get; } =
        new[] { memory, pids, cpu, cpuacct }.Where(d => d is not null).Distinct().Select(d => Path.Combine(d!, "cgroup.procs")).ToArray();

    private (long Memory, int Processes, double Cpus)? _applied;
    private bool? _idle;

    private void Weigh(bool idle)
    {
        if (cpu is null || _idle == idle) return;
        _idle = null;
        CgroupFiles.TryWrite(Path.Combine(cpu, "cpu.shares"), idle ? "2" : "1024");
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
        var bytes = limits.MemoryBytes.ToString(CultureInfo.InvariantCulture);
        var limitFile = Path.Combine(memory, "memory.limit_in_bytes");
        var memswFile = Path.Combine(memory, "memory.memsw.limit_in_bytes");
        // memsw must stay >= the memory limit at every moment, so the order of the two writes depends on direction.
        if (_hasMemsw && limits.MemoryBytes > CgroupFiles.ReadLong(limitFile))
        {
            CgroupFiles.Write(memswFile, bytes);
            CgroupFiles.Write(limitFile, bytes);
        }
        else
        {
            CgroupFiles.Write(limitFile, bytes);
            if (_hasMemsw) CgroupFiles.Write(memswFile, bytes);
        }
        CgroupFiles.Write(Path.Combine(pids, "pids.max"), limits.MaxProcesses.ToString(CultureInfo.InvariantCulture));
        if (cpu is not null)
        {
            const long period = 100_000;
            CgroupFiles.Write(Path.Combine(cpu, "cpu.cfs_period_us"), period.ToString(CultureInfo.InvariantCulture));
            CgroupFiles.Write(Path.Combine(cpu, "cpu.cfs_quota_us"), ((long)(limits.Cpus * period)).ToString(CultureInfo.InvariantCulture));
        }
        _applied = applied;
    }

    public CgroupCounters Baseline()
    {
        CgroupFiles.TryWrite(Path.Combine(memory, "memory.max_usage_in_bytes"), "0");
        if (cpuacct is not null) CgroupFiles.TryWrite(Path.Combine(cpuacct, "cpuacct.usage"), "0");
        _oomBase = CgroupFiles.ReadKey(Path.Combine(memory, "memory.oom_control"), "oom_kill");
        return new CgroupCounters(0, TimeSpan.Zero, 0);
    }

    public CgroupCounters Read()
    {
        long oom = CgroupFiles.ReadKey(Path.Combine(memory, "memory.oom_control"), "oom_kill") - _oomBase;
        long cpuNs = cpuacct is null ? 0 : CgroupFiles.ReadLong(Path.Combine(cpuacct, "cpuacct.usage"));
        long peak = CgroupFiles.ReadLong(Path.Combine(memory, "memory.max_usage_in_bytes"));
        return new CgroupCounters(oom, TimeSpan.FromTicks(cpuNs / 100), peak);
    }

    public Task KillAllAsync(CancellationToken cancellationToken) => CgroupFiles.KillLoopAsync(ProcsFiles, [], cancellationToken);

    public Task KillAllButAsync(IReadOnlyCollection<int> survivors, CancellationToken cancellationToken) =>
        CgroupFiles.KillLoopAsync(ProcsFiles, survivors, cancellationToken);

    public bool IsEmpty() => ProcsFiles.All(f => CgroupFiles.ReadPids(f).Count == 0);

    public void Delete()
    {
        foreach (var dir in new[] { memory, pids, cpu, cpuacct }.Distinct())
            if (dir is not null) CgroupFiles.RemoveDirectory(dir);
    }
}
