namespace Warden.Server.History;

/// <summary>Filters of <c>GET /api/v1/executions</c>. <see cref="Before"/> is the keyset cursor (an execution id).</summary>
public sealed record HistoryQuery
{
    public string? Status { get; init; }
    public string? Language { get; init; }
    public string? UserId { get; init; }
    public string? KeyId { get; init; }
    /// <summary>With <see cref="KeyId"/>: only the records of this principal's user (null: those that named no user).</summary>
    public bool OwnerOnly { get; init; }
    public string? OwnerUserId { get; init; }
    public DateTimeOffset? Since { get; init; }
    public string? Before { get; init; }
    public int Limit { get; init; } = 50;
}

public sealed record HistoryPage(IReadOnlyList<ExecutionRecord> Items, string? NextCursor);
