using Warden.Core.Execution;

namespace Warden.Server.Hosting;

/// <summary>The sandbox check as readiness and health report it.</summary>
/// <param name="Ok">A program started in a real sandbox and printed what it was asked to.</param>
/// <param name="Detail">What ran, or the sandbox's own error.</param>
public sealed record SandboxCheckDto(bool Ok, string Detail, DateTimeOffset CheckedAt, double DurationMs)
{
    /// <summary>
    /// The current result (a new check when the last one is stale). None before the backend started or once shutdown
    /// began: a check then would start slots of a backend that is going away.
    /// </summary>
    public static async Task<SandboxCheckDto?> CurrentAsync(BackendLifetime backend, SandboxCheck check, ShutdownGrace shutdown,
        CancellationToken cancellationToken)
    {
        if (!backend.Started || shutdown.Stopping) return null;
        var result = await check.CurrentAsync(cancellationToken);
        return result is null ? null : new SandboxCheckDto(result.Ok, result.Detail, result.CheckedAt, Math.Round(result.Milliseconds, 1));
    }
}
