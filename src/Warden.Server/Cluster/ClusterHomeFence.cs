using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Workspaces;
using Warden.Server.Data;
using static Warden.Server.Cluster.ClusterSchema;

namespace Warden.Server.Cluster;

/// <summary>
/// The home fence of replicas sharing one homes volume (Warden:Terminal:HomesDir): a lease row per home in
/// <c>terminal_home_leases</c>, taken in one statement that succeeds only when nobody holds it, this very process holds
/// it, or its holder is no longer live by the replicas' own heartbeats (stopped, or silent for DeadAfterSeconds by the
/// database's clock). So a live owner's lease is never taken, a dead owner's expires with its heartbeats, and two
/// replicas never mount one image at once. Graceful shutdown marks the replica stopped, which ends its leases at once.
/// </summary>
public sealed partial class ClusterHomeFence(WardenDatabase database, ReplicaIdentity self, IOptions<ClusterOptions> options, ILogger<ClusterHomeFence> logger)
    : IHomeFence
{
    private readonly long _deadMs = (long)(options.Value.DeadAfterSeconds * 1000);

    public async ValueTask<long> EnterAsync(string key, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        var generation = await ClusterDirectory.ScalarAsync(connection, null, $"""
            INSERT INTO terminal_home_leases AS l (key, replica_id, incarnation, generation, acquired_at)
            VALUES (@key, @id, @inc, 1, {NowMs})
            ON CONFLICT (key) DO UPDATE SET replica_id = @id, incarnation = @inc, generation = l.generation + 1, acquired_at = {NowMs}
            WHERE (l.replica_id = @id AND l.incarnation = @inc)
               OR NOT EXISTS (SELECT 1 FROM cluster_replicas r WHERE r.id = l.replica_id AND r.incarnation = l.incarnation
                              AND r.stopped_at IS NULL AND r.last_seen >= {NowMs} - @dead)
            RETURNING generation
            """, cancellationToken, ("@key", key), ("@id", self.ReplicaId), ("@inc", self.Incarnation), ("@dead", _deadMs)).ConfigureAwait(false);
        if (generation is long taken)
        {
            Log.Taken(logger, key, taken);
            return taken;
        }
        var holder = await ClusterDirectory.ScalarAsync(connection, null, "SELECT replica_id FROM terminal_home_leases WHERE key = @key", cancellationToken,
            ("@key", key)).ConfigureAwait(false);
        throw new HomeFencedException($"Replica {holder} holds this home's lease and is live: it serves this user's terminal; retry if it is stopping.");
    }

    public async ValueTask ExitAsync(string key, long generation, CancellationToken cancellationToken)
    {
        await using var connection = await database.ConnectAsync(cancellationToken).ConfigureAwait(false);
        // Released, not deleted: the row keeps its generation, so generations of one home only ever grow (a deleted row
        // would start again at 1, and an old holder's generation could then match a new lease).
        await ClusterDirectory.ExecuteAsync(connection, null,
            "UPDATE terminal_home_leases SET replica_id = '', incarnation = '' WHERE key = @key AND replica_id = @id AND incarnation = @inc AND generation = @gen",
            cancellationToken,
            ("@key", key), ("@id", self.ReplicaId), ("@inc", self.Incarnation), ("@gen", generation)).ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.ClusterHomeLeaseTaken, LogLevel.Information, "Home {HomeKey}: lease taken by this replica (generation {Generation})")]
        public static partial void Taken(ILogger logger, string homeKey, long generation);
    }
}
