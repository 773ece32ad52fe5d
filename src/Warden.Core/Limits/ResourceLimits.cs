namespace Warden.Core.Limits;

/// <summary>The effective limits of one sandboxed stage, after defaults and ceilings. Backends enforce exactly these.</summary>
public sealed record ResourceLimits
{
    public required TimeSpan WallTime { get; init; }
    public required TimeSpan CpuTime { get; init; }
    public required long MemoryBytes { get; init; }
    public required int MaxProcesses { get; init; }
    public required long MaxOutputBytes { get; init; }
    /// <summary>CPU bandwidth in cores (cgroup quota / period).</summary>
    public required double Cpus { get; init; }
    public required long MaxFileBytes { get; init; }
    public required int MaxOpenFiles { get; init; }
    public required long TmpBytes { get; init; }
    public required long WorkspaceBytes { get; init; }
    public required bool Network { get; init; }

    /// <summary>
    /// Inet sockets are allowed although <see cref="Network"/> is off: the sandbox keeps its own network namespace with
    /// only loopback, so a server the user runs there can be previewed (through the user's agent) and reaches nothing else.
    /// </summary>
    public bool LoopbackSockets { get; init; }

    /// <summary>Files (inodes, nr_inodes=) a size-capped tmpfs of <paramref name="bytes"/> may hold: one per page of its
    /// size. Every non-empty file takes a page anyway, so this only stops what size= cannot: empty files and directories,
    /// whose inodes cost kernel memory without using any of the size.</summary>
    public static long InodesFor(long bytes) => Math.Max(1024, bytes / 4096);
}
