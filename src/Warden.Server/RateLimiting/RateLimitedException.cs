using Warden.Core.Execution;

namespace Warden.Server.RateLimiting;

/// <summary>A rate limit or the per-user concurrency cap refused an execution that was admitted in code (an MCP tool call); 429.</summary>
public sealed class RateLimitedException(string message, TimeSpan retryAfter) : WardenException(message)
{
    public TimeSpan RetryAfter { get; } = retryAfter;
    public override string Kind => "rate-limited";
}
