using System.ComponentModel.DataAnnotations;

namespace Warden.Server.RateLimiting;

/// <summary>
/// Section <c>Warden:RateLimits</c> (Sandbox Executor's RATE_LIMIT_PER_MINUTE, RATE_LIMIT_BURST). Limits apply to the endpoints
/// that run code. The caller is the end user (X-User-Id from an authenticated caller), else the API key, else the client
/// IP. 0 turns a limit off.
/// </summary>
public sealed class RateLimitOptions
{
    public const string Section = "Warden:RateLimits";

    /// <summary>Sustained executions per minute per caller (token bucket).</summary>
    [Range(0, 1_000_000)] public int PerMinute { get; set; }

    /// <summary>Executions a caller may start back to back (the bucket's size).</summary>
    [Range(1, 1_000_000)] public int Burst { get; set; } = 10;

    /// <summary>Executions per minute per API key, all its users together.</summary>
    [Range(0, 1_000_000)] public int PerKeyPerMinute { get; set; }

    [Range(1, 1_000_000)] public int PerKeyBurst { get; set; } = 100;

    /// <summary>Executions one caller may have running (or queued) at once; more get 429.</summary>
    [Range(0, 100_000)] public int MaxConcurrentPerUser { get; set; }
}
