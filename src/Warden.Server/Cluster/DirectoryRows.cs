using System.Globalization;

namespace Warden.Server.Cluster;

/// <summary>What a directory row is about: a session (a native session or a Jupyter kernel) or one user's terminal sandbox.</summary>
public static class ResourceKind
{
    public const string Session = "session";
    public const string Terminal = "terminal";
}

/// <summary>One replica as the directory last saw it; <see cref="AgeMs"/> is how long ago its last heartbeat was, by the database's clock.</summary>
public sealed record ReplicaRow(string Id, Uri AdvertiseUrl, string Incarnation, DateTimeOffset StartedAt, long AgeMs, DateTimeOffset? StoppedAt,
    string? StopReason)
{
    public uint Tag => OwnerTag.Of(Id, Incarnation);

    public bool IsLive(TimeSpan deadAfter, long extraAgeMs = 0) => StoppedAt is null && AgeMs + extraAgeMs <= deadAfter.TotalMilliseconds;

    /// <summary>Why this replica no longer serves, in words for a problem detail; null while it is live.</summary>
    public string? GoneReason(TimeSpan deadAfter, long extraAgeMs = 0)
    {
        if (StoppedAt is { } at) return $"{StopReason ?? "stopped"} at {at.ToString("u", CultureInfo.InvariantCulture)}";
        var age = AgeMs + extraAgeMs;
        return age > deadAfter.TotalMilliseconds ? $"stopped sending heartbeats {age / 1000.0:0.#} s ago" : null;
    }
}

/// <summary>A directory row: which replica (and which incarnation of it) holds a session or a user's terminal, and that replica as known.</summary>
public sealed record DirectoryEntry(string Kind, string Key, string ReplicaId, string Incarnation, string? UserId, ReplicaRow? Owner)
{
    /// <summary>Why the holder no longer has it, or null when it does (the owner is live and the same process that claimed it).</summary>
    public string? GoneReason(TimeSpan deadAfter)
    {
        if (Owner is null) return "is no longer registered";
        if (Owner.Incarnation != Incarnation)
            return $"restarted at {Owner.StartedAt.ToString("u", CultureInfo.InvariantCulture)} (nothing it held survives a restart)";
        return Owner.GoneReason(deadAfter);
    }
}
