namespace Warden.Core.Execution;

/// <summary>The outcome of one stage (compile or run) of an execution.</summary>
public sealed record StageResult
{
    public required ExecutionStatus Status { get; init; }
    public string Stdout { get; init; } = "";
    public string Stderr { get; init; } = "";
    public int? ExitCode { get; init; }
    public int? Signal { get; init; }
    public long ExecutionTimeMs { get; init; }
    public long CpuTimeMs { get; init; }
    public double MemoryUsedMb { get; init; }
    public bool StdoutTruncated { get; init; }
    public bool StderrTruncated { get; init; }
    /// <summary>Why the stage did not succeed, for humans; null on success.</summary>
    public string? Error { get; init; }
}

/// <summary>The outcome of an execution: the run stage, plus the compile stage for compiled languages.</summary>
public sealed record ExecutionResult
{
    public required string ExecutionId { get; init; }
    public required string Language { get; init; }
    public required StageResult Run { get; init; }
    public StageResult? Compile { get; init; }

    /// <summary>Files the program created or changed in its workspace, when the caller asked to collect them.</summary>
    public IReadOnlyList<OutputFile> Files { get; init; } = [];

    /// <summary>More files existed than the output-file limits allow (or the walk's depth or entry bound); the rest were left out.</summary>
    public bool FilesTruncated { get; init; }

    /// <summary>Workspace entries not returned and why (links, FIFOs, too large…), at most <see cref="CollectedFiles.MaxSkippedReported"/>.</summary>
    public IReadOnlyList<SkippedFile> FilesSkipped { get; init; } = [];

    /// <summary>The backend that ran it (bwrap, gvisor).</summary>
    public string Backend { get; init; } = "";

    /// <summary>The run stage's effective limits, after defaults and ceilings.</summary>
    public Limits.ResourceLimits? Limits { get; init; }

    /// <summary>What the run's egress grant used (connections, refusals, bytes); null for a run without network.</summary>
    public Egress.EgressUsage? Egress { get; init; }

    /// <summary>Time spent waiting for a free sandbox.</summary>
    public long QueuedMs { get; init; }

    /// <summary>Time from admission to result: queue wait, compile and run.</summary>
    public long TotalMs { get; init; }

    public ExecutionStatus Status => Run.Status;

    /// <summary>Bytes of output returned (both stages, both streams).</summary>
    public long OutputBytes => Run.Stdout.Length + Run.Stderr.Length + (Compile is { } c ? c.Stdout.Length + c.Stderr.Length : 0);
}

/// <summary>A file the program produced. Path is relative to the workspace.</summary>
public sealed record OutputFile(string Name, long Size, byte[] Content);
