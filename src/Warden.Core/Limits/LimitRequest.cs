namespace Warden.Core.Limits;

/// <summary>Limits as a caller asked for them; null means "the server's default".</summary>
public sealed record LimitRequest
{
    public double? TimeoutSeconds { get; init; }
    public double? CpuTimeSeconds { get; init; }
    public int? MemoryMb { get; init; }
    public int? MaxProcesses { get; init; }
    public long? MaxOutputBytes { get; init; }
}
