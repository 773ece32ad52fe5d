using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Options;
using Warden.Server.Data;
using static Warden.Server.Cluster.ClusterDirectory;
using static Warden.Server.Cluster.ClusterSchema;

namespace Warden.Server.Cluster;

/// <summary>
/// Rate-limit buckets and per-caller concurrency leases that every replica shares, so a limit means the same with three
/// replicas as with one. A bucket is refilled and taken from in one statement (the row lock serialises replicas); a
/// lease is counted and taken under an advisory lock per caller. Leases of a replica that stops being live stop counting
/// at once and are deleted by the reaper.
/// </summary>
public sealed class SharedQuotaStore(WardenDatabase database, ReplicaIdentity self, IOptions<ClusterOptions> options)
{
    private readonly long _deadMs = (long)(options.Value.DeadAfterSeconds * 1000);
    private readonly ConcurrentDictionary<string, byte> _held = new(StringComparer.Ordinal);

    /// <summary>Takes one token from <paramref name="key"/>'s bucket; when it is empty, says how long until a token is back.</summary>
    public async Task<(bool Taken, TimeSpan RetryAfter)> TakeTokenAsync(string key, int perMinute, int burst, CancellationToken cancellationToken)
    {
        var perMs = perMinute / 60000.0;
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        // GREATEST(0, …): a transaction that started earlier but got the row later must not un-refill the bucket.
        const string refilled = $"LEAST(@burst, b.tokens + GREATEST(0, {NowMs} - b.updated_at) * @perMs)";
        var taken = await ScalarAsync(connection, null, $"""
            INSERT INTO cluster_buckets AS b (key, tokens, updated_at) VALUES (@key, @burst - 1, {NowMs})
            ON CONFLICT (key) DO UPDATE SET tokens = {refilled} - 1, updated_at = GREATEST(b.updated_at, {NowMs})
            WHERE {refilled} >= 1
            RETURNING tokens
            """, cancellationToken, ("@key", key), ("@burst", (double)burst), ("@perMs", perMs)).ConfigureAwait(false);
        if (taken is not null) return (true, TimeSpan.Zero);
        var missingMs = await ScalarAsync(connection, null,
            $"SELECT (1 - {refilled}) / @perMs FROM cluster_buckets b WHERE key = @key", cancellationToken,
            ("@key", key), ("@burst", (double)burst), ("@perMs", perMs)).ConfigureAwait(false);
        var ms = missingMs is null or DBNull ? 1000 : Convert.ToDouble(missingMs, CultureInfo.InvariantCulture);
        return (false, TimeSpan.FromMilliseconds(Math.Max(1, ms)));
    }

    /// <summary>A lease id when <paramref name="identity"/> holds fewer than <paramref name="max"/> live leases; else null.</summary>
    public async Task<string?> AcquireLeaseAsync(string identity, int max, CancellationToken cancellationToken)
    {
        var id = Guid.CreateVersion7().ToString("N");
        _held.TryAdd(id, 0);
        try
        {
            await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            // Counting and inserting are separate statements so the count sees leases committed while this one waited for the lock.
            await ExecuteAsync(connection, transaction, $"SELECT pg_advisory_xact_lock({LeaseLock}, hashtext(@identity))", cancellationToken,
                ("@identity", identity)).ConfigureAwait(false);
            var inserted = await ExecuteAsync(connection, transaction, $"""
                INSERT INTO cluster_leases (id, identity, replica_id, incarnation, acquired_at)
                SELECT @lease, @identity, @id, @inc, {NowMs}
                WHERE (SELECT COUNT(*) FROM cluster_leases l JOIN cluster_replicas r ON r.id = l.replica_id AND r.incarnation = l.incarnation
                       WHERE l.identity = @identity AND r.stopped_at IS NULL AND r.last_seen >= {NowMs} - @dead) < @max
                """, cancellationToken, ("@lease", id), ("@identity", identity), ("@id", self.ReplicaId), ("@inc", self.Incarnation),
                ("@dead", _deadMs), ("@max", (long)max)).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            if (inserted == 1) return id;
        }
        catch
        {
            _held.TryRemove(id, out _);
            throw;
        }
        _held.TryRemove(id, out _);
        return null;
    }

    public async Task ReleaseLeaseAsync(string leaseId, CancellationToken cancellationToken)
    {
        _held.TryRemove(leaseId, out _);
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, null, "DELETE FROM cluster_leases WHERE id = @id", cancellationToken, ("@id", leaseId)).ConfigureAwait(false);
    }

    /// <summary>Deletes this replica's leases that no request holds any more (a release that failed), so they stop counting.</summary>
    public async Task SyncLeasesAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, null, $"""
            DELETE FROM cluster_leases WHERE replica_id = @id AND incarnation = @inc AND acquired_at < {NowMs} - 10000 AND NOT (id = ANY(@held))
            """, cancellationToken, ("@id", self.ReplicaId), ("@inc", self.Incarnation), ("@held", _held.Keys.ToArray())).ConfigureAwait(false);
    }
}
