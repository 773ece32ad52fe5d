namespace Warden.Server.Cluster;

/// <summary>
/// The tables replicas share, on PostgreSQL only (cluster mode requires it). Times are unix milliseconds from the
/// database's own clock (<see cref="NowMs"/>), so replicas with skewed clocks still agree on who is alive and on how full
/// a rate-limit bucket is.
/// </summary>
internal static class ClusterSchema
{
    /// <summary>The database's clock in unix milliseconds (stable within a transaction).</summary>
    public const string NowMs = "(extract(epoch from now()) * 1000)::bigint";

    /// <summary>Advisory lock keys (first half of the two-key form) of the things that must happen one at a time.</summary>
    public const int SessionClaimLock = 1, LeaseLock = 2, ReaperLock = 3;

    public const string Ddl = """
        CREATE TABLE IF NOT EXISTS cluster_replicas (
            id TEXT PRIMARY KEY,
            advertise_url TEXT NOT NULL,
            incarnation TEXT NOT NULL,
            started_at BIGINT NOT NULL,
            last_seen BIGINT NOT NULL,
            stopped_at BIGINT NULL,
            stop_reason TEXT NULL
        );
        CREATE TABLE IF NOT EXISTS cluster_directory (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            replica_id TEXT NOT NULL,
            incarnation TEXT NOT NULL,
            user_id TEXT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (kind, key)
        );
        CREATE INDEX IF NOT EXISTS cluster_directory_replica ON cluster_directory (replica_id, incarnation);
        CREATE INDEX IF NOT EXISTS cluster_directory_user ON cluster_directory (kind, user_id);
        -- The owner's tenant (API key), for the per-key session cap; user_id holds the whole principal (tenant/user).
        ALTER TABLE cluster_directory ADD COLUMN IF NOT EXISTS tenant TEXT NULL;
        CREATE INDEX IF NOT EXISTS cluster_directory_tenant ON cluster_directory (kind, tenant);
        CREATE TABLE IF NOT EXISTS cluster_leases (
            id TEXT PRIMARY KEY,
            identity TEXT NOT NULL,
            replica_id TEXT NOT NULL,
            incarnation TEXT NOT NULL,
            acquired_at BIGINT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS cluster_leases_identity ON cluster_leases (identity);
        CREATE TABLE IF NOT EXISTS cluster_buckets (
            key TEXT PRIMARY KEY,
            tokens DOUBLE PRECISION NOT NULL,
            updated_at BIGINT NOT NULL
        );
        -- Which replica may mount a user's home on the shared homes volume (ClusterHomeFence): valid while that replica
        -- heartbeats; generation grows with every taking, so a late release of an older holder ends nothing.
        CREATE TABLE IF NOT EXISTS terminal_home_leases (
            key TEXT PRIMARY KEY,
            replica_id TEXT NOT NULL,
            incarnation TEXT NOT NULL,
            generation BIGINT NOT NULL,
            acquired_at BIGINT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS cluster_secrets (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """;
}
