using Warden.Core.Execution;

namespace Warden.Server.NativeApi;

/// <summary>Result of an execution: Sandbox Executor's shape, extended with signal, cpu time, truncation and the compile stage.</summary>
public sealed record ExecuteResponse
{
    public required string ExecutionId { get; init; }
    public required string Language { get; init; }
    public required string Status { get; init; }
    public required string Stdout { get; init; }
    public required string Stderr { get; init; }
    public int? ExitCode { get; init; }
    public int? Signal { get; init; }
    public long ExecutionTimeMs { get; init; }
    public long CpuTimeMs { get; init; }
    public double MemoryUsedMb { get; init; }
    public bool StdoutTruncated { get; init; }
    public bool StderrTruncated { get; init; }
    public StageResponse? Compile { get; init; }
    public string? Error { get; init; }
    /// <summary>Files the program produced; present when the request set collect_files.</summary>
    public List<FileResponse>? Files { get; init; }
    public bool? FilesTruncated { get; init; }
    /// <summary>Workspace entries not returned and why; present when the request set collect_files.</summary>
    public List<SkippedFileResponse>? FilesSkipped { get; init; }
    /// <summary>What the run did through the egress proxy; present when the run was granted network.</summary>
    public EgressResponse? Egress { get; init; }

    public static ExecuteResponse From(ExecutionResult result, bool collected = false) => new()
    {
        ExecutionId = result.ExecutionId,
        Language = result.Language,
        Status = result.Run.Status.ToWireName(),
        Stdout = result.Run.Stdout,
        Stderr = result.Run.Stderr,
        ExitCode = result.Run.ExitCode,
        Signal = result.Run.Signal,
        ExecutionTimeMs = result.Run.ExecutionTimeMs,
        CpuTimeMs = result.Run.CpuTimeMs,
        MemoryUsedMb = result.Run.MemoryUsedMb,
        StdoutTruncated = result.Run.StdoutTruncated,
        StderrTruncated = result.Run.StderrTruncated,
        Compile = result.Compile is { } c ? StageResponse.From(c) : null,
        Error = result.Run.Error,
        Files = collected ? result.Files.Select(FileResponse.From).ToList() : null,
        FilesTruncated = collected ? result.FilesTruncated : null,
        FilesSkipped = collected ? result.FilesSkipped.Select(s => new SkippedFileResponse(s.Name, s.Reason.ToWireName())).ToList() : null,
        Egress = result.Egress is { } e ? new EgressResponse(e.Connections, e.Refused, e.BytesSent, e.BytesReceived) : null,
    };
}

/// <summary>Connections the proxy dialled and refused for the run, and payload bytes to and from origins.</summary>
public sealed record EgressResponse(int Connections, int Refused, long BytesSent, long BytesReceived);

/// <summary>A produced file. mime_type is guessed from the extension.</summary>
public sealed record FileResponse(string Name, long Size, string MimeType, string ContentBase64)
{
    public static FileResponse From(Warden.Core.Execution.OutputFile f) =>
        new(f.Name, f.Size, MimeTypes.Guess(f.Name), Convert.ToBase64String(f.Content));
}

/// <summary>A workspace entry collect_files left out: symlink, fifo, socket, device, too_large, over_limit, too_deep, …</summary>
public sealed record SkippedFileResponse(string Name, string Reason);

/// <summary>The compile stage of a compiled language, same fields as the run.</summary>
public sealed record StageResponse
{
    public required string Status { get; init; }
    public required string Stdout { get; init; }
    public required string Stderr { get; init; }
    public int? ExitCode { get; init; }
    public int? Signal { get; init; }
    public long ExecutionTimeMs { get; init; }
    public long CpuTimeMs { get; init; }
    public double MemoryUsedMb { get; init; }
    public bool StdoutTruncated { get; init; }
    public bool StderrTruncated { get; init; }
    public string? Error { get; init; }

    public static StageResponse From(StageResult s) => new()
    {
        Status = s.Status.ToWireName(), Stdout = s.Stdout, Stderr = s.Stderr, ExitCode = s.ExitCode, Signal = s.Signal,
        ExecutionTimeMs = s.ExecutionTimeMs, CpuTimeMs = s.CpuTimeMs, MemoryUsedMb = s.MemoryUsedMb,
        StdoutTruncated = s.StdoutTruncated, StderrTruncated = s.StderrTruncated, Error = s.Error,
    };
}
