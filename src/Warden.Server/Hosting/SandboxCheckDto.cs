using Warden.Core.Execution;

namespace Warden.Server.Hosting;

/// <summary>The sandbox check as readiness and health report it.</summary>
/// <param name="Ok">A program started in a real sandbox and printed what it was asked to.</param>
/// <param name="Detail">What ran, or the sandbox's own error.</param>
/// <param name="AgeSeconds">How long ago the check finished (health answers from the last one, however old).</param>
public sealed record SandboxCheckDto(bool Ok, string Detail, DateTimeOffset CheckedAt, double DurationMs, double AgeSeconds)
{
    /// <summary>
    /// The current result (a new check when the last one is stale). None before the backend started or once shutdown
    /// began: a check then would start slots of a backend that is going away.
    /// </summary>
    public static async Task<SandboxCheckDto?> CurrentAsync(BackendLifetime backend, SandboxCheck check, ShutdownGrace shutdown,
        CancellationToken cancellationToken)
    {
        if (!backend.Started || shutdown.Stopping) return null;
        return From(await check.CurrentAsync(cancellationToken));
    }

    /// <summary>
    /// The last result without waiting for a sandbox (a stale one starts a check in the background); null before the
    /// first check finished, before the backend started, or once shutdown began.
    /// </summary>
    public static SandboxCheckDto? Cached(BackendLifetime backend, SandboxCheck check, ShutdownGrace shutdown)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(check);
        ArgumentNullException.ThrowIfNull(shutdown);
        if (!backend.Started || shutdown.Stopping) return null;
        return From(check.Peek());
    }

    private static SandboxCheckDto? From(SandboxCheckResult? result) => result is null ? null
        : new SandboxCheckDto(result.Ok, result.Detail, result.CheckedAt, Math.Round(result.Milliseconds, 1),
            Math.Round(Math.Max(0, (DateTimeOffset.UtcNow - result.CheckedAt).TotalSeconds), 1));
}
