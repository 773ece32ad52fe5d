namespace Warden.Server.History;

/// <summary>
/// One execution request as the audit log and the history keep it: who, what (code digest and size, never the code
/// unless configured), under which limits, and what came of it. Requests Core refused (503, 400, 413) are recorded too,
/// with their problem kind as status.
/// </summary>
public sealed record ExecutionRecord
{
    public required string Id { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public required DateTimeOffset FinishedAt { get; init; }
    public string? KeyId { get; init; }
    public string? UserId { get; init; }
    public string? ClientIp { get; init; }
    /// <summary>execute, stream or websocket.</summary>
    public required string Transport { get; init; }
    public required string Language { get; init; }
    public required string Backend { get; init; }
    public required string Status { get; init; }
    public required int HttpStatus { get; init; }
    public int? ExitCode { get; init; }
    public int? Signal { get; init; }
    public required string CodeSha256 { get; init; }
    public long CodeBytes { get; init; }
    public long StdinBytes { get; init; }
    public double? TimeoutSeconds { get; init; }
    public double? CpuTimeSeconds { get; init; }
    public int? MemoryMb { get; init; }
    public int? MaxProcesses { get; init; }
    public long? MaxOutputBytes { get; init; }
    public bool Network { get; init; }
    public long QueuedMs { get; init; }
    public long? CompileMs { get; init; }
    public long RunMs { get; init; }
    public long TotalMs { get; init; }
    public long CpuMs { get; init; }
    public double MemoryUsedMb { get; init; }
    public long StdoutBytes { get; init; }
    public long StderrBytes { get; init; }
    public string? Error { get; init; }
    /// <summary>Only in the audit log, and only with <c>Warden:Audit:IncludeCode</c>.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Code { get; init; }
}
