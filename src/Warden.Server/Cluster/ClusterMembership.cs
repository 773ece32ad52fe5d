using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Configuration;
using Warden.Core.Sessions;

namespace Warden.Server.Cluster;

/// <summary>
/// This replica's place in the cluster. At start-up: the shared tables, the replica row (waiting out a dead process that
/// used the same id, refusing a live one), the shared signing key. Then every heartbeat: say it is alive, declare silent
/// replicas dead, refresh the in-memory view of every replica (routing reads it without touching the database), drop
/// directory rows of sessions and quota leases that are gone here. On SIGTERM: mark itself stopped, so its sessions are reported lost
/// (410) instead of being forwarded to a replica that is leaving.
/// </summary>
public sealed partial class ClusterMembership(ClusterDirectory directory, SharedQuotaStore quotas, SessionManager sessions, SharedSigningKeys keys,
    IOptions<ClusterOptions> options, ILogger<ClusterMembership> logger) : IHostedLifecycleService, IAsyncDisposable
{
    private readonly TimeSpan _heartbeat = TimeSpan.FromSeconds(options.Value.HeartbeatSeconds);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<(string Id, string Incarnation), CancellationTokenSource> _watches = new();
    private readonly ConcurrentDictionary<string, byte> _ownTerminals = new(StringComparer.Ordinal);
    private volatile View _view = new([], Stopwatch.GetTimestamp());
    private long _healthySince;   // Stopwatch timestamp of the first heartbeat since the last failure; 0: failing
    private Task _loop = Task.CompletedTask;

    public ReplicaIdentity Self => directory.Self;

    public TimeSpan DeadAfter => directory.DeadAfter;

    /// <summary>Every replica as of the last refresh (live or not).</summary>
    public IReadOnlyList<ReplicaRow> Replicas => _view.Rows;

    /// <summary>
    /// Whether silence may be taken for death: only once this replica has itself been heartbeating for
    /// <see cref="DeadAfter"/>. Right after it starts, or after the database was unreachable, every heartbeat looks old;
    /// declaring the others dead then would report sessions lost that are fine (and move users' terminals).
    /// </summary>
    public bool CanJudgeSilence => Interlocked.Read(ref _healthySince) is var since and not 0 && Stopwatch.GetElapsedTime(since) >= DeadAfter;

    public bool IsLive(ReplicaRow row) => GoneReason(row) is null;

    /// <summary>Why <paramref name="row"/> no longer serves, or null: a stop is certain; silence counts only when it can be judged.</summary>
    public string? GoneReason(ReplicaRow row) => row.StoppedAt is not null || CanJudgeSilence ? row.GoneReason(DeadAfter, ExtraAgeMs) : null;

    /// <summary>As <see cref="GoneReason(ReplicaRow)"/>, for a directory row (a restart of its holder is certain too).</summary>
    public string? GoneReason(DirectoryEntry entry) =>
        entry.Owner is null || entry.Owner.Incarnation != entry.Incarnation ? entry.GoneReason(DeadAfter) : GoneReason(entry.Owner);

    /// <summary>
    /// How much older the view's heartbeat ages are by now; capped, so a view this replica could not refresh (the database
    /// unreachable) never makes the others look dead by itself.
    /// </summary>
    private long ExtraAgeMs => Math.Min(_view.AgeMs, (long)(2 * _heartbeat.TotalMilliseconds));

    public ReplicaRow? FindByTag(uint tag) => _view.Rows.FirstOrDefault(r => r.Tag == tag);

    /// <summary>The other replicas that are live now.</summary>
    public IReadOnlyList<ReplicaRow> LivePeers() =>
        _view.Rows.Where(r => IsLive(r) && !(r.Id == Self.ReplicaId && r.Incarnation == Self.Incarnation)).ToList();

    /// <summary>Fires when <paramref name="owner"/> is seen to be no longer live: a forwarded request or relayed socket then ends at once.</summary>
    public CancellationToken WatchLoss(ReplicaRow owner) =>
        _watches.GetOrAdd((owner.Id, owner.Incarnation), _ => new CancellationTokenSource()).Token;

    /// <summary>Terminals this process claimed: their requests need no directory lookup.</summary>
    public bool OwnsTerminal(string key) => _ownTerminals.ContainsKey(key);

    public void OwnTerminal(string key) => _ownTerminals.TryAdd(key, 0);

    /// <summary>How long start-up waits for the shared database (it may be starting alongside, as in a compose file or a pod restart).</summary>
    public static readonly TimeSpan DatabaseWait = TimeSpan.FromSeconds(60);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await directory.EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (Exception e) when (e is DbException or IOException or TimeoutException && waited.Elapsed < DatabaseWait)
            {
                Log.DatabaseWait(logger, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is DbException or IOException or TimeoutException)
            {
                throw new InvalidOperationException(
                    $"Cluster mode: the shared database did not answer for {DatabaseWait.TotalSeconds:0} s (Warden:Database:ConnectionString, WARDEN_DATABASE_URL): {e.Message}", e);
            }
        }
        await TakeIdAsync(cancellationToken).ConfigureAwait(false);
        Interlocked.Exchange(ref _healthySince, Stopwatch.GetTimestamp());
        keys.Load(await directory.SharedSecretAsync("signing-key", cancellationToken).ConfigureAwait(false));
        await RefreshAsync(cancellationToken).ConfigureAwait(false);
        Log.Joined(logger, Self.ReplicaId, Self.AdvertiseUrl.ToString(), _view.Rows.Count(IsLive));
        _loop = Task.Run(() => LoopAsync(_stop.Token), CancellationToken.None);
    }

    /// <summary>
    /// A live replica with this id is another process (two replicas given one id): refuse. One that stopped heartbeating
    /// is this replica's previous process (a restart with a fixed id): wait until it counts as dead, then take over.
    /// </summary>
    private async Task TakeIdAsync(CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)((DeadAfter + 2 * _heartbeat).TotalSeconds * Stopwatch.Frequency);
        while (await directory.FindReplicaAsync(Self.ReplicaId, cancellationToken).ConfigureAwait(false) is { } existing && existing.IsLive(DeadAfter))
        {
            if (Stopwatch.GetTimestamp() > deadline)
                throw new InvalidConfigurationException(ClusterSetup.ReplicaIdSetting,
                    $"replica id '{Self.ReplicaId}' is in use by a live replica at {existing.AdvertiseUrl} (heartbeat {existing.AgeMs} ms ago): " +
                    "give every replica its own id (or leave it unset for a unique default).");
            Log.WaitingForId(logger, Self.ReplicaId, existing.AgeMs);
            await Task.Delay(_heartbeat, cancellationToken).ConfigureAwait(false);
        }
        await directory.RegisterAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task LoopAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_heartbeat, stop).ConfigureAwait(false);
                if (!await directory.HeartbeatAsync(stop).ConfigureAwait(false)) await RejoinAsync(stop).ConfigureAwait(false);
                Interlocked.CompareExchange(ref _healthySince, Stopwatch.GetTimestamp(), 0);
                if (CanJudgeSilence)
                    foreach (var dead in await directory.ReapAsync(stop).ConfigureAwait(false)) Log.DeclaredDead(logger, dead, DeadAfter.TotalSeconds);
                await RefreshAsync(stop).ConfigureAwait(false);
                await directory.SyncSessionsAsync(sessions.AllIds(), stop).ConfigureAwait(false);
                await quotas.SyncLeasesAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is DbException or IOException or TimeoutException or InvalidOperationException)
            {
                Interlocked.Exchange(ref _healthySince, 0);
                Log.HeartbeatFailed(logger, e);
            }
        }
    }

    /// <summary>
    /// This replica was declared dead (its heartbeats were late: a long pause, the database unreachable) but is running:
    /// become live again. Its sessions' rows still name this incarnation, so they route here again; terminals it held may
    /// have moved to another replica meanwhile, so its list of own terminals is forgotten and read afresh.
    /// </summary>
    private async Task RejoinAsync(CancellationToken cancellationToken)
    {
        var row = await directory.FindReplicaAsync(Self.ReplicaId, cancellationToken).ConfigureAwait(false);
        if (row is not null && row.Incarnation != Self.Incarnation)
        {
            Log.IdTaken(logger, Self.ReplicaId, row.AdvertiseUrl.ToString());
            return;
        }
        _ownTerminals.Clear();
        await directory.RegisterAsync(cancellationToken).ConfigureAwait(false);
        Log.Rejoined(logger, Self.ReplicaId);
    }

    private async Task RefreshAsync(CancellationToken cancellationToken)
    {
        _view = new View(await directory.ReplicasAsync(cancellationToken).ConfigureAwait(false), Stopwatch.GetTimestamp());
        foreach (var (key, watch) in _watches)
        {
            var row = _view.Rows.FirstOrDefault(r => r.Id == key.Id && r.Incarnation == key.Incarnation);
            if (row is not null && IsLive(row)) continue;
            if (_watches.TryRemove(key, out _)) await watch.CancelAsync().ConfigureAwait(false);
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Shutdown begins: stop heartbeating and say so, before the server drains.</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        await StopLoopAsync().ConfigureAwait(false);
        try
        {
            await directory.LeaveAsync("shut down", cancellationToken).ConfigureAwait(false);
            Log.Left(logger, Self.ReplicaId);
        }
        catch (Exception e) when (e is DbException or IOException or TimeoutException or InvalidOperationException or OperationCanceledException)
        {
            // The others declare it dead after DeadAfterSeconds instead.
            Log.LeaveFailed(logger, e);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async ValueTask DisposeAsync() => await StopLoopAsync().ConfigureAwait(false);

    private async Task StopLoopAsync()
    {
        if (!_stop.IsCancellationRequested) await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
    }

    private sealed record View(IReadOnlyList<ReplicaRow> Rows, long RefreshedAt)
    {
        /// <summary>How much older every heartbeat age in <see cref="Rows"/> is by now.</summary>
        public long AgeMs => (long)Stopwatch.GetElapsedTime(RefreshedAt).TotalMilliseconds;
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.ClusterJoined, LogLevel.Information, "Replica {ReplicaId} joined the cluster at {Url}; {Live} replicas live")]
        public static partial void Joined(ILogger logger, string replicaId, string url, int live);

        [LoggerMessage(Diagnostics.EventIds.ClusterHeartbeatFailed, LogLevel.Warning, "Cluster heartbeat failed; retrying at the next one")]
        public static partial void HeartbeatFailed(ILogger logger, Exception exception);

        [LoggerMessage(Diagnostics.EventIds.ClusterReplicaDeclaredDead, LogLevel.Warning,
            "Replica {ReplicaId} sent no heartbeat for {Seconds} s: declared dead; its sessions are reported lost")]
        public static partial void DeclaredDead(ILogger logger, string replicaId, double seconds);

        [LoggerMessage(Diagnostics.EventIds.ClusterRejoined, LogLevel.Warning, "Replica {ReplicaId} had been declared dead (late heartbeats); rejoined")]
        public static partial void Rejoined(ILogger logger, string replicaId);

        [LoggerMessage(Diagnostics.EventIds.ClusterLeft, LogLevel.Information, "Replica {ReplicaId} left the cluster (shutting down)")]
        public static partial void Left(ILogger logger, string replicaId);

        [LoggerMessage(Diagnostics.EventIds.ClusterLeaveFailed, LogLevel.Warning, "Could not mark this replica stopped; the others will declare it dead")]
        public static partial void LeaveFailed(ILogger logger, Exception exception);

        [LoggerMessage(Diagnostics.EventIds.ClusterIdTaken, LogLevel.Error,
            "Replica id {ReplicaId} was taken over by another process at {Url}: two replicas share one id; this one no longer heartbeats")]
        public static partial void IdTaken(ILogger logger, string replicaId, string url);

        [LoggerMessage(Diagnostics.EventIds.ClusterDatabaseWait, LogLevel.Warning, "Cluster mode: waiting for the shared database ({Reason})")]
        public static partial void DatabaseWait(ILogger logger, string reason);

        [LoggerMessage(Diagnostics.EventIds.ClusterWaitingForId, LogLevel.Information,
            "Replica id {ReplicaId} is still held by a process that heartbeated {AgeMs} ms ago; waiting for it to count as dead")]
        public static partial void WaitingForId(ILogger logger, string replicaId, long ageMs);
    }
}
