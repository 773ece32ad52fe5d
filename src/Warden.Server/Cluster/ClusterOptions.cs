using System.ComponentModel.DataAnnotations;

namespace Warden.Server.Cluster;

/// <summary>
/// Section <c>Warden:Cluster</c>: several replicas behind one balancer, sharing one PostgreSQL database. Cluster mode is on
/// when <see cref="Enabled"/> is <c>true</c>, or (<c>auto</c>) when the database is PostgreSQL and a replica id or advertise
/// URL is set; with none of these a server behaves exactly as a single server always has.
/// </summary>
public sealed class ClusterOptions
{
    public const string Section = "Warden:Cluster";

    /// <summary><c>auto</c> (default), <c>true</c> or <c>false</c> (WARDEN_CLUSTER_ENABLED).</summary>
    public string Enabled { get; set; } = "auto";

    /// <summary>This replica's name in the directory (WARDEN_CLUSTER_REPLICA_ID); default: the host name and a random suffix, new at every start.</summary>
    public string? ReplicaId { get; set; }

    /// <summary>The URL other replicas reach this one at (WARDEN_CLUSTER_ADVERTISE_URL); default: the listen URL, when it names one address.</summary>
    public string? AdvertiseUrl { get; set; }

    /// <summary>How often this replica says it is alive (and refreshes its view of the others).</summary>
    [Range(0.2, 300)] public double HeartbeatSeconds { get; set; } = 5;

    /// <summary>A replica silent this long is declared dead: its sessions are reported lost (410) and its quota leases freed.</summary>
    [Range(1, 3600)] public double DeadAfterSeconds { get; set; } = 20;

    /// <summary>How long forwarding waits to connect to the owning replica before answering 503.</summary>
    [Range(0.1, 60)] public double ConnectTimeoutSeconds { get; set; } = 2;

    /// <summary>How long a cluster-wide list waits for each other replica; a replica slower than this is left out (and named).</summary>
    [Range(0.1, 120)] public double ListTimeoutSeconds { get; set; } = 5;
}
