using Warden.Core.Limits;

namespace Warden.Core.Cgroups;

/// <summary>The kernel's accounting of one sandbox, read after it ran.</summary>
public sealed record CgroupCounters(long OomKills, TimeSpan CpuTime, long PeakMemoryBytes);

/// <summary>One sandbox's cgroup (v1: one directory per controller hierarchy; v2: one directory).</summary>
internal interface ICgroup
{
    string Name { get; }

    /// <summary>The <c>cgroup.procs</c> files a process writes its pid to, to join (one per v1 hierarchy).</summary>
    IReadOnlyList<string> ProcsFiles { get; }

    /// <summary>Sets memory (no swap), pids, CPU bandwidth and CPU weight. Safe to call while a parked process is inside.</summary>
    /// <param name="idle">
    /// The smallest CPU weight instead of the default: for a warm sandbox starting or waiting for its request, so loading
    /// interpreters ahead never takes CPU from programs that run for a request.
    /// </param>
    void Apply(ResourceLimits limits, bool idle = false);

    /// <summary>Starts a new accounting period: peak memory and CPU usage are measured from here.</summary>
    CgroupCounters Baseline();

    CgroupCounters Read();

    /// <summary>SIGKILLs every process inside and returns once the cgroup is empty.</summary>
    Task KillAllAsync(CancellationToken cancellationToken);

    /// <summary>
    /// SIGKILLs every process inside but the <paramref name="survivors"/> (the exec helper, which reaps the rest and then
    /// exits; a container's init) and returns once only survivors, if anything, are left.
    /// </summary>
    Task KillAllButAsync(IReadOnlyCollection<int> survivors, CancellationToken cancellationToken);

    bool IsEmpty();

    void Delete();
}

/// <summary>The instance's subtree of cgroups, created at start-up and removed at shutdown.</summary>
internal interface ICgroupTree : IDisposable
{
    /// <summary>"v1" or "v2".</summary>
    string Version { get; }

    ICgroup Create(string name);
}
