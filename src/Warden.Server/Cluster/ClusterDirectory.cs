using System.Data.Common;
using Microsoft.Extensions.Options;
using Warden.Core.Execution;
using Warden.Core.Ownership;
using Warden.Core.Sessions;
using Warden.Server.Data;
using static Warden.Server.Cluster.ClusterSchema;

namespace Warden.Server.Cluster;

/// <summary>
/// The shared directory in PostgreSQL: which replicas exist (with heartbeats), and which replica holds each live session
/// and each user's terminal. Rows are never trusted on their own: an entry counts only while its replica is live and is
/// the same incarnation that wrote it, so a crash needs no clean-up to be reported truthfully; the reaper only tidies up.
/// </summary>
public sealed class ClusterDirectory(WardenDatabase database, ReplicaIdentity self, IOptions<ClusterOptions> options)
{
    /// <summary>How long rows of a stopped replica are kept, so its former clients are told what happened (410) rather than 404.</summary>
    public static readonly TimeSpan TombstoneLifetime = TimeSpan.FromHours(1);

    private readonly long _deadMs = (long)(options.Value.DeadAfterSeconds * 1000);

    public ReplicaIdentity Self => self;

    public TimeSpan DeadAfter => TimeSpan.FromMilliseconds(_deadMs);

    public async Task EnsureSchemaAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        // The same lock as the base schema: replicas starting together must not race in CREATE TABLE IF NOT EXISTS.
        await ExecuteAsync(connection, transaction, $"SELECT pg_advisory_xact_lock({WardenDatabase.SchemaLockKey}); {Ddl}", cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<ReplicaRow?> FindReplicaAsync(string id, CancellationToken cancellationToken) =>
        await QueryReplicasAsync("WHERE id = @id", cancellationToken, ("@id", id)).ConfigureAwait(false) is [var replica, ..] ? replica : null;

    public Task<IReadOnlyList<ReplicaRow>> ReplicasAsync(CancellationToken cancellationToken) => QueryReplicasAsync("", cancellationToken);

    /// <summary>Writes (or takes over) this replica's row as live, with this process's incarnation.</summary>
    public async Task RegisterAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, null, $"""
            INSERT INTO cluster_replicas (id, advertise_url, incarnation, started_at, last_seen, stopped_at, stop_reason)
            VALUES (@id, @url, @inc, {NowMs}, {NowMs}, NULL, NULL)
            ON CONFLICT (id) DO UPDATE SET advertise_url = @url, incarnation = @inc, started_at = {NowMs}, last_seen = {NowMs},
                stopped_at = NULL, stop_reason = NULL
            """, cancellationToken, ("@id", self.ReplicaId), ("@url", self.AdvertiseUrl.ToString()), ("@inc", self.Incarnation)).ConfigureAwait(false);
    }

    /// <summary>A heartbeat; false when the row is no longer this live incarnation's (declared dead, or taken by another process).</summary>
    public async Task<bool> HeartbeatAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        return await ExecuteAsync(connection, null,
            $"UPDATE cluster_replicas SET last_seen = {NowMs} WHERE id = @id AND incarnation = @inc AND stopped_at IS NULL",
            cancellationToken, ("@id", self.ReplicaId), ("@inc", self.Incarnation)).ConfigureAwait(false) == 1;
    }

    /// <summary>
    /// Declares silent replicas dead and tidies up: frees the quota leases of replicas that are not live, deletes the rows
    /// of replicas stopped longer than <see cref="TombstoneLifetime"/>. One replica at a time; the others skip. Returns the
    /// ids declared dead now.
    /// </summary>
    public async Task<IReadOnlyList<string>> ReapAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        if (await ScalarAsync(connection, transaction, $"SELECT pg_try_advisory_xact_lock({ReaperLock}, 0)", cancellationToken).ConfigureAwait(false) is not true)
            return [];
        var dead = new List<string>();
        await using (var command = Command(connection, transaction, $"""
            UPDATE cluster_replicas SET stopped_at = {NowMs}, stop_reason = 'stopped sending heartbeats (declared dead)'
            WHERE stopped_at IS NULL AND last_seen < {NowMs} - @dead RETURNING id
            """, ("@dead", _deadMs)))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false)) dead.Add(reader.GetString(0));
        }
        await ExecuteAsync(connection, transaction, $"""
            DELETE FROM cluster_leases l WHERE NOT EXISTS (SELECT 1 FROM cluster_replicas r
                WHERE r.id = l.replica_id AND r.incarnation = l.incarnation AND r.stopped_at IS NULL);
            DELETE FROM cluster_directory d WHERE NOT EXISTS (SELECT 1 FROM cluster_replicas r
                WHERE r.id = d.replica_id AND (r.incarnation = d.incarnation OR r.started_at > {NowMs} - @tomb));
            DELETE FROM cluster_replicas WHERE stopped_at IS NOT NULL AND stopped_at < {NowMs} - @tomb;
            DELETE FROM cluster_buckets WHERE updated_at < {NowMs} - 86400000;
            """, cancellationToken, ("@tomb", (long)TombstoneLifetime.TotalMilliseconds)).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return dead;
    }

    /// <summary>Graceful shutdown: this replica is stopped (what it held is reported lost, 410) and its quota leases are freed.</summary>
    public async Task LeaveAsync(string reason, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, null, $"""
            UPDATE cluster_replicas SET stopped_at = {NowMs}, stop_reason = @reason WHERE id = @id AND incarnation = @inc;
            DELETE FROM cluster_leases WHERE replica_id = @id AND incarnation = @inc;
            """, cancellationToken, ("@reason", reason), ("@id", self.ReplicaId), ("@inc", self.Incarnation)).ConfigureAwait(false);
    }

    /// <summary>Records a new session held here; refuses when the user holds <paramref name="maxPerUser"/> live sessions across the cluster.</summary>
    public async Task ClaimSessionAsync(string sessionId, Principal owner, SessionCaps caps, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        // Counting and inserting are separate statements so the counts see claims committed while this one waited for the
        // lock; one lock per tenant covers both the tenant's and its users' counts.
        await ExecuteAsync(connection, transaction, $"SELECT pg_advisory_xact_lock({SessionClaimLock}, hashtext(@tenant))", cancellationToken,
            ("@tenant", owner.Tenant)).ConfigureAwait(false);
        const string live = $"""
            FROM cluster_directory d JOIN cluster_replicas r ON r.id = d.replica_id AND r.incarnation = d.incarnation
            WHERE d.kind = '{ResourceKind.Session}' AND r.stopped_at IS NULL AND r.last_seen >= {NowMs} - @dead
            """;
        var inserted = await ExecuteAsync(connection, transaction, $"""
            INSERT INTO cluster_directory (kind, key, replica_id, incarnation, user_id, tenant, created_at)
            SELECT '{ResourceKind.Session}', @key, @id, @inc, @user, @tenant, {NowMs}
            WHERE (SELECT COUNT(*) {live} AND d.user_id = @user) < @max_user
              AND (SELECT COUNT(*) {live} AND d.tenant = @tenant) < @max_key
            """, cancellationToken, ("@key", sessionId), ("@id", self.ReplicaId), ("@inc", self.Incarnation), ("@user", owner.ToString()),
            ("@tenant", owner.Tenant), ("@dead", _deadMs), ("@max_user", (long)caps.PerUser), ("@max_key", (long)caps.PerKey)).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        if (inserted == 0)
            throw new CapacityExceededException($"User '{owner.User}' already has the maximum of {caps.PerUser} sessions " +
                $"(Warden:Sessions:MaxSessionsPerUser), or this API key the maximum of {caps.PerKey} (Warden:Sessions:MaxSessionsPerKey), " +
                "across all replicas; delete one first.", TimeSpan.FromSeconds(5));
    }

    /// <summary>Removes this replica's row for <paramref name="key"/>.</summary>
    public async Task ReleaseAsync(string kind, string key, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, null, "DELETE FROM cluster_directory WHERE kind = @kind AND key = @key AND replica_id = @id AND incarnation = @inc",
            cancellationToken, ("@kind", kind), ("@key", key), ("@id", self.ReplicaId), ("@inc", self.Incarnation)).ConfigureAwait(false);
    }

    public async Task<DirectoryEntry?> LookupAsync(string kind, string key, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, $"""
            SELECT d.replica_id, d.incarnation, d.user_id, r.id, r.advertise_url, r.incarnation, r.started_at, {NowMs} - r.last_seen, r.stopped_at, r.stop_reason
            FROM cluster_directory d LEFT JOIN cluster_replicas r ON r.id = d.replica_id WHERE d.kind = @kind AND d.key = @key
            """, ("@kind", kind), ("@key", key));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false)) return null;
        var owner = reader.IsDBNull(3) ? null : ReadReplica(reader, 3);
        return new DirectoryEntry(kind, key, reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), owner);
    }

    /// <summary>The holder of a user's terminal, claiming it for this replica when nobody holds it.</summary>
    public async Task<DirectoryEntry> ClaimTerminalAsync(string key, CancellationToken cancellationToken)
    {
        if (await LookupAsync(ResourceKind.Terminal, key, cancellationToken).ConfigureAwait(false) is { } existing) return existing;
        await using (var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false))
        {
            await ExecuteAsync(connection, null, $"""
                INSERT INTO cluster_directory (kind, key, replica_id, incarnation, created_at)
                VALUES ('{ResourceKind.Terminal}', @key, @id, @inc, {NowMs}) ON CONFLICT (kind, key) DO NOTHING
                """, cancellationToken, ("@key", key), ("@id", self.ReplicaId), ("@inc", self.Incarnation)).ConfigureAwait(false);
        }
        // Another replica may have claimed it at the same moment: whoever's row is there holds it.
        return await LookupAsync(ResourceKind.Terminal, key, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException("The terminal's directory row vanished while it was being claimed.");
    }

    /// <summary>Deletes a row whose holder is gone (only if it is still that row), so the next request starts afresh.</summary>
    public async Task DropAsync(DirectoryEntry entry, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, null, "DELETE FROM cluster_directory WHERE kind = @kind AND key = @key AND replica_id = @id AND incarnation = @inc",
            cancellationToken, ("@kind", entry.Kind), ("@key", entry.Key), ("@id", entry.ReplicaId), ("@inc", entry.Incarnation)).ConfigureAwait(false);
    }

    /// <summary>Deletes this replica's session rows that no longer match a live local session (a release that failed, say).</summary>
    public async Task SyncSessionsAsync(IReadOnlyCollection<string> localIds, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, null, $"""
            DELETE FROM cluster_directory WHERE kind = '{ResourceKind.Session}' AND replica_id = @id AND incarnation = @inc
                AND created_at < {NowMs} - 60000 AND NOT (key = ANY(@ids))
            """, cancellationToken, ("@id", self.ReplicaId), ("@inc", self.Incarnation), ("@ids", localIds.ToArray())).ConfigureAwait(false);
    }

    /// <summary>A random value shared by every replica (created by whichever asks first), for keys they must all agree on.</summary>
    public async Task<string> SharedSecretAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, null, "INSERT INTO cluster_secrets (name, value) VALUES (@name, @value) ON CONFLICT (name) DO NOTHING",
            cancellationToken, ("@name", name), ("@value", Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32))))
            .ConfigureAwait(false);
        return (string)(await ScalarAsync(connection, null, "SELECT value FROM cluster_secrets WHERE name = @name", cancellationToken, ("@name", name))
            .ConfigureAwait(false))!;
    }

    private async Task<IReadOnlyList<ReplicaRow>> QueryReplicasAsync(string where, CancellationToken cancellationToken, params (string, object?)[] parameters)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null,
            $"SELECT id, advertise_url, incarnation, started_at, {NowMs} - last_seen, stopped_at, stop_reason FROM cluster_replicas {where} ORDER BY id",
            parameters);
        var rows = new List<ReplicaRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false)) rows.Add(ReadReplica(reader, 0));
        return rows;
    }

    private static ReplicaRow ReadReplica(DbDataReader r, int at) => new(r.GetString(at), new Uri(r.GetString(at + 1)), r.GetString(at + 2),
        DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(at + 3)), r.GetInt64(at + 4),
        r.IsDBNull(at + 5) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(at + 5)), r.IsDBNull(at + 6) ? null : r.GetString(at + 6));

    internal static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters) command.With(name, value);
        return command;
    }

    internal static async Task<int> ExecuteAsync(DbConnection connection, DbTransaction? transaction, string sql, CancellationToken cancellationToken,
        params (string, object?)[] parameters)
    {
        await using var command = Command(connection, transaction, sql, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    internal static async Task<object?> ScalarAsync(DbConnection connection, DbTransaction? transaction, string sql, CancellationToken cancellationToken,
        params (string, object?)[] parameters)
    {
        await using var command = Command(connection, transaction, sql, parameters);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }
}
