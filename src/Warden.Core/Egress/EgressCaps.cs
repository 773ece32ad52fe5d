namespace Warden.Core.Egress;

/// <summary>What one grant may use: bytes both ways, connections in all, connections at once, idle time per tunnel.</summary>
public sealed record EgressCaps(long MaxBytes, int MaxConnections, int MaxConcurrent, TimeSpan IdleTimeout);
