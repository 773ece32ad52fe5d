namespace Warden.Server.RateLimiting;

/// <summary>Endpoint metadata: this endpoint runs code, so rate limits and the per-user concurrency cap apply.</summary>
public sealed class ExecutionEndpoint
{
    public static readonly ExecutionEndpoint Instance = new();
}
