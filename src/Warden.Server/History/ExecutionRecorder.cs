using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core;
using Warden.Server.Diagnostics;

namespace Warden.Server.History;

/// <summary>
/// Records every execution in the audit log and the history. Requests put their record in a bounded channel and wait
/// until the one background writer has written it (group commit: whatever queued meanwhile goes in the same batch), so
/// an execution whose client got an answer is in the history even if the process is killed the next instant. While
/// the database fails (the writer retrying), requests stop waiting and their records queue, never dropped; the wait is
/// bounded in any case. The writer also applies retention periodically, and on shutdown drains after the server has
/// stopped (so executions that finish during the grace period are recorded too).
/// </summary>
public sealed partial class ExecutionRecorder : IHostedLifecycleService, IAsyncDisposable
{
    private const int BatchSize = 256;

    /// <summary>The longest a request waits for its record to be written before answering anyway.</summary>
    private static readonly TimeSpan WrittenWithin = TimeSpan.FromSeconds(2);

    private readonly Channel<Queued> _channel;
    private readonly HistoryStore? _history;
    private readonly AuditLog? _audit;
    private readonly HistoryOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<ExecutionRecorder> _logger;
    private readonly CancellationTokenSource _stopRetention = new();
    private Task _writer = Task.CompletedTask;
    private long _written;
    private long _lost;
    private int _drained;
    private volatile bool _failing;

    public ExecutionRecorder(HistoryStore history, IOptions<HistoryOptions> options, IOptions<AuditOptions> audit, IOptions<WardenOptions> warden,
        TimeProvider time, ILogger<ExecutionRecorder> logger)
    {
        _options = options.Value;
        _history = _options.Enabled ? history : null;
        var a = audit.Value;
        _audit = a.Enabled ? new AuditLog(a.Path ?? Path.Combine(warden.Value.StateDirectory, "audit.log"), a.IncludeCode, a.MaxFileBytes, a.KeepFiles) : null;
        _time = time;
        _logger = logger;
        _channel = Channel.CreateBounded<Queued>(new BoundedChannelOptions(_options.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait, SingleReader = true,
        });
    }

    public bool Enabled => _history is not null || _audit is not null;

    /// <summary>Records written to every sink so far.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Records waiting for the writer.</summary>
    public int Pending => _channel.Reader.CanCount ? _channel.Reader.Count : 0;

    public string? AuditPath => _audit?.Path;

    /// <summary>The audit log, for the egress recorder's lines (null when auditing is off).</summary>
    internal AuditLog? Audit => _audit;

    /// <summary>Queues the record and returns once it is written (or the writer is failing, or after a bound).</summary>
    public async ValueTask RecordAsync(ExecutionRecord record)
    {
        if (!Enabled) return;
        var queued = new Queued(record, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        // Not the request's token: a record of an execution that ran must not be lost because its client left.
        try { await _channel.Writer.WriteAsync(queued, CancellationToken.None).ConfigureAwait(false); }
        catch (ChannelClosedException)
        {
            Interlocked.Increment(ref _lost);
            Log.RecordAfterShutdown(_logger, record.Id);
            return;
        }
        if (_failing) return;
        try { await queued.Written.Task.WaitAsync(WrittenWithin).ConfigureAwait(false); }
        catch (TimeoutException) { }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Enabled) _writer = Task.Run(WriteLoopAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>After the server stopped: no request can add records any more, so write what is queued and finish.</summary>
    public async Task StoppedAsync(CancellationToken cancellationToken) => await DrainAsync().ConfigureAwait(false);

    private async Task DrainAsync()
    {
        if (Interlocked.Exchange(ref _drained, 1) != 0)
        {
            await _writer.ConfigureAwait(false);
            return;
        }
        _channel.Writer.TryComplete();
        await _stopRetention.CancelAsync().ConfigureAwait(false);
        try { await _writer.WaitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false); }
        catch (TimeoutException) { Log.DrainTimedOut(_logger, Pending); }
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<Queued>(BatchSize);
        var nextRetention = _time.GetUtcNow();
        var reader = _channel.Reader;
        while (true)
        {
            bool more = true;
            using (var tick = new CancellationTokenSource(TimeSpan.FromSeconds(Math.Min(_options.RetentionIntervalSeconds, 30))))
            {
                // False only once the channel is completed (shutdown) and empty.
                try { more = await reader.WaitToReadAsync(tick.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { }
            }
            while (reader.TryRead(out var record))
            {
                batch.Add(record);
                if (batch.Count < BatchSize) continue;
                await WriteBatchAsync(batch).ConfigureAwait(false);
                batch.Clear();
            }
            if (batch.Count > 0)
            {
                await WriteBatchAsync(batch).ConfigureAwait(false);
                batch.Clear();
            }
            if (!more) break;
            if (_history is not null && _time.GetUtcNow() >= nextRetention && !_stopRetention.IsCancellationRequested)
            {
                nextRetention = _time.GetUtcNow().AddSeconds(_options.RetentionIntervalSeconds);
                await ApplyRetentionAsync().ConfigureAwait(false);
            }
        }
        _audit?.Dispose();
    }

    private async Task WriteBatchAsync(List<Queued> queued)
    {
        var batch = queued.ConvertAll(q => q.Record);
        try
        {
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    // Audit first: the file is the record of last resort if the database is unreachable.
                    if (attempt == 1 && _audit is not null) await _audit.AppendAsync(batch, CancellationToken.None).ConfigureAwait(false);
                    if (_history is not null) await _history.InsertAsync(batch, CancellationToken.None).ConfigureAwait(false);
                    Interlocked.Add(ref _written, batch.Count);
                    _failing = false;
                    return;
                }
                catch (Exception e) when (e is System.Data.Common.DbException or IOException or TimeoutException or InvalidOperationException)
                {
                    if (attempt == 1)
                    {
                        // Requests waiting for this batch answer now; later ones do not wait until a batch is written.
                        _failing = true;
                        foreach (var q in queued) q.Written.TrySetResult();
                    }
                    if (attempt >= 5)
                    {
                        Interlocked.Add(ref _lost, batch.Count);
                        Log.BatchLost(_logger, batch.Count, e);
                        return;
                    }
                    Log.BatchRetry(_logger, batch.Count, attempt, e);
                    await Task.Delay(TimeSpan.FromSeconds(attempt), CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            foreach (var q in queued) q.Written.TrySetResult();
        }
    }

    /// <summary>Runs retention now (also called periodically by the writer).</summary>
    public async Task ApplyRetentionAsync()
    {
        if (_history is null) return;
        try
        {
            var deleted = await _history.ApplyRetentionAsync(_time.GetUtcNow().AddDays(-_options.RetentionDays), _options.MaxRows, CancellationToken.None)
                .ConfigureAwait(false);
            if (deleted > 0) Log.RetentionApplied(_logger, deleted);
        }
        catch (Exception e) when (e is System.Data.Common.DbException or IOException or TimeoutException or InvalidOperationException)
        {
            Log.RetentionFailed(_logger, e);
        }
    }

    // The container may dispose this twice (as itself and as a hosted service): draining is idempotent, and the token
    // source is left to the finalizer-free GC (it holds no timer).
    public async ValueTask DisposeAsync() => await DrainAsync().ConfigureAwait(false);

    private sealed record Queued(ExecutionRecord Record, TaskCompletionSource Written);

    private static partial class Log
    {
        [LoggerMessage(EventIds.HistoryBatchRetry, LogLevel.Warning, "Writing {Count} execution records failed (attempt {Attempt}); retrying")]
        public static partial void BatchRetry(ILogger logger, int count, int attempt, Exception exception);

        [LoggerMessage(EventIds.HistoryBatchLost, LogLevel.Error, "Gave up writing {Count} execution records to the history (they are in the audit log)")]
        public static partial void BatchLost(ILogger logger, int count, Exception exception);

        [LoggerMessage(EventIds.HistoryRetention, LogLevel.Information, "History retention deleted {Count} rows")]
        public static partial void RetentionApplied(ILogger logger, int count);

        [LoggerMessage(EventIds.HistoryRetentionFailed, LogLevel.Warning, "History retention failed")]
        public static partial void RetentionFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventIds.HistoryDrainTimedOut, LogLevel.Error, "Shutdown: {Pending} execution records were still queued after 60 s")]
        public static partial void DrainTimedOut(ILogger logger, int pending);

        [LoggerMessage(EventIds.HistoryRecordAfterShutdown, LogLevel.Warning, "Execution {ExecutionId} finished after the recorder shut down; not recorded")]
        public static partial void RecordAfterShutdown(ILogger logger, string executionId);
    }
}
