using Warden.Core.Execution;

namespace Warden.Core.Sessions;

/// <summary>One cell to run in a session. A null timeout means the session's default.</summary>
public sealed record CellRequest(string Code, double? TimeoutSeconds = null);

/// <summary>
/// What happened to a cell. <see cref="Status"/> reuses the execution statuses: <c>Success</c>, <c>Error</c> (an exception,
/// including an interrupt), <c>Timeout</c>, <c>OutputLimit</c>, <c>MemoryLimit</c>, <c>Killed</c> (the kernel died).
/// </summary>
public sealed record CellResult
{
    public required ExecutionStatus Status { get; init; }
    public required int ExecutionCount { get; init; }
    public required IReadOnlyList<CellOutput> Outputs { get; init; }
    public ErrorOutput? Error { get; init; }
    public required TimeSpan WallTime { get; init; }
    public TimeSpan CpuTime { get; init; }
    public long PeakMemoryBytes { get; init; }
    public bool OutputTruncated { get; init; }
    /// <summary>The kernel did not survive the cell (killed after a timeout, OOM, crash): its state is gone.</summary>
    public bool KernelLost { get; init; }
    /// <summary>Why the cell did not succeed, for humans; null on success.</summary>
    public string? Detail { get; init; }
}
