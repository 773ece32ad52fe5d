using Warden.Core.Limits;

namespace Warden.Core.Sessions;

/// <summary>A session's effective limits, resolved once at creation by <see cref="LimitPolicy.ResolveSession"/>.</summary>
public sealed record SessionLimits
{
    /// <summary>A cell's timeout when its request gives none.</summary>
    public required TimeSpan CellTimeout { get; init; }
    public required long MaxOutputBytes { get; init; }
    /// <summary>What the sandbox enforces for the session's whole life (memory, pids, CPU bandwidth, files).</summary>
    public required ResourceLimits Sandbox { get; init; }
}
