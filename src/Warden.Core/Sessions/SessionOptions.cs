using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Warden.Core.Sessions;

/// <summary>Limits a session may set, as defaults or as ceilings (resolved by <see cref="Limits.LimitPolicy"/> only).</summary>
public sealed class SessionLimitValues
{
    /// <summary>Wall-clock limit of one cell: on expiry the cell is interrupted, and the kernel killed if it does not stop.</summary>
    [Range(0.001, 86400)] public double CellTimeoutSeconds { get; set; }
    /// <summary>Output (streams and rich data together) one cell may produce; beyond it the rest is dropped and the cell interrupted.</summary>
    [Range(1024, 1L << 34)] public long MaxOutputBytes { get; set; }
    /// <summary>Memory of the whole session (cgroup, no swap; includes its /tmp and workspace).</summary>
    [Range(16, 1048576)] public int MemoryMb { get; set; }
    /// <summary>Processes and threads of the whole session (cgroup pids).</summary>
    [Range(4, 65536)] public int MaxProcesses { get; set; }
}

/// <summary>Configuration section <c>Warden:Sessions</c>: stateful kernels.</summary>
public sealed class SessionOptions
{
    public const string Section = "Warden:Sessions";

    /// <summary>Sessions alive at once on this server; more get 503.</summary>
    [Range(0, 100000)] public int MaxSessions { get; set; } = 64;

    /// <summary>Sessions one user (of one key) may hold at once; more get 503.</summary>
    [Range(1, 100000)] public int MaxSessionsPerUser { get; set; } = 16;

    /// <summary>
    /// Sessions (and Jupyter kernels) one stored API key may hold at once across all the users it names; more get 503.
    /// Bounds what a key can take by varying the user it names, so one tenant cannot fill the server. The operator's own
    /// tenant (the bootstrap key, no key) is bounded by <see cref="MaxSessions"/> alone.
    /// </summary>
    [Range(1, 100000)] public int MaxSessionsPerKey { get; set; } = 32;

    /// <summary>A session unused this long is deleted (its kernel and sandbox are destroyed).</summary>
    [Range(1, 7 * 86400)] public double IdleTimeoutSeconds { get; set; } = 600;

    /// <summary>How long a kernel may take to come up before its start counts as failed.</summary>
    [Range(0.1, 600)] public double StartTimeoutSeconds { get; set; } = 15;

    /// <summary>After an interrupt (timeout, output cap), how long the cell gets to stop before the kernel is killed.</summary>
    [Range(0.05, 60)] public double InterruptGraceSeconds { get; set; } = 1;

    /// <summary>
    /// Kernels of the default language (python) with the <see cref="Default"/> limits kept started and waiting, so a
    /// session or Jupyter kernel that asks for just that starts at once (see <c>KernelPool</c>). Each holds its memory
    /// limit in the budget while it waits. 0 turns them off.
    /// </summary>
    [Range(0, 64)] public int WarmKernels { get; set; } = 1;

    [ValidateObjectMembers]
    public SessionLimitValues Default { get; set; } = new()
    {
        CellTimeoutSeconds = 60, MaxOutputBytes = 1 << 20, MemoryMb = 512, MaxProcesses = 64,
    };

    [ValidateObjectMembers]
    public SessionLimitValues Ceiling { get; set; } = new()
    {
        CellTimeoutSeconds = 600, MaxOutputBytes = 16 << 20, MemoryMb = 2048, MaxProcesses = 512,
    };
}
