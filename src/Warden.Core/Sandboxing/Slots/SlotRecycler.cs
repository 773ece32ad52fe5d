using Microsoft.Extensions.Logging;

namespace Warden.Core.Sandboxing.Slots;

/// <summary>How often recycling a slot is tried, and how long to wait between tries, before the slot is quarantined.</summary>
/// <param name="Attempts">Tries in all, the first included.</param>
/// <param name="FirstBackoff">The wait after the first failure; each further wait is four times the last.</param>
/// <param name="AttemptTimeout">How long one try may take: a cgroup that cannot be emptied fails the try instead of hanging it.</param>
internal sealed record RecyclePolicy(int Attempts, TimeSpan FirstBackoff, TimeSpan AttemptTimeout)
{
    /// <summary>Four tries over about four seconds: long enough for a transient failure (a busy mount, a slow daemon) to pass.</summary>
    public static RecyclePolicy Default { get; } = new(4, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(15));

    public TimeSpan Backoff(int failedAttempt) => FirstBackoff * Math.Pow(4, failedAttempt - 1);
}

/// <summary>
/// The one recycle path of every backend's slots (bwrap and gVisor execution and warm slots, Docker's keeper
/// containers): the backend says how to make one slot clean again, this runs it in the background with bounded retries
/// and backoff, counts the failures, and quarantines a slot that failed every try. A quarantined slot never returns to
/// circulation: its uid and cgroup are not reused (the slot keeps them until shutdown), capacity is one less, and the
/// backend's status reports it, which makes /health "degraded" and shows on /metrics.
/// </summary>
internal sealed partial class SlotRecycler(RecyclePolicy policy, ILogger logger) : IAsyncDisposable
{
    private readonly HashSet<Task> _running = [];
    private readonly CancellationTokenSource _stopping = new();
    private long _failures;
    private int _quarantined;
    private int _inFlight;

    /// <summary>Recycles in flight (tries and backoffs).</summary>
    public int Running => Volatile.Read(ref _inFlight);

    /// <summary>Failed tries since start, whether a later one succeeded or not.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Slots quarantined since start.</summary>
    public int Quarantined => Volatile.Read(ref _quarantined);

    /// <summary>
    /// Runs <paramref name="attempt"/> in the background until it succeeds (it returns the slot to circulation itself),
    /// at most <see cref="RecyclePolicy.Attempts"/> times; after the last failure, <paramref name="quarantine"/>.
    /// </summary>
    /// <param name="attempt">One try. It gets a token that fires at shutdown or when the try takes too long, and must be
    /// safe to run again after it failed part-way.</param>
    /// <returns>The recycle, which never fails: for a caller that must wait for it (a backend's start).</returns>
    public Task Recycle(string slot, Func<CancellationToken, Task> attempt, Action quarantine)
    {
        // Counted until the recycle has ended (returned the slot or quarantined it), not until its task is forgotten.
        Interlocked.Increment(ref _inFlight);
        // Off the caller's path: a try runs synchronously up to its first real wait (kill loop, unmount, mount).
        var task = Task.Run(async () =>
        {
            try { await RunAsync(slot, attempt, quarantine).ConfigureAwait(false); }
            finally { Interlocked.Decrement(ref _inFlight); }
        });
        lock (_running) _running.Add(task);
        task.ContinueWith(t => { lock (_running) _running.Remove(t); }, TaskScheduler.Default);
        return task;
    }

    private async Task RunAsync(string slot, Func<CancellationToken, Task> attempt, Action quarantine)
    {
        for (int tried = 1; ; tried++)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(policy.AttemptTimeout);
            try
            {
                await attempt(timeout.Token).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                // Shutting down: the backend destroys every slot, recycled or not.
                return;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or HttpRequestException
                                          or TimeoutException or OperationCanceledException)
            {
                Interlocked.Increment(ref _failures);
                if (tried >= policy.Attempts)
                {
                    Interlocked.Increment(ref _quarantined);
                    Log.Quarantined(logger, slot, tried, e);
                    quarantine();
                    return;
                }
                var backoff = policy.Backoff(tried);
                Log.Retrying(logger, slot, tried, backoff.TotalMilliseconds, e);
                try { await Task.Delay(backoff, _stopping.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    /// <summary>Stops backoffs and waits for the tries in flight.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        Task[] pending;
        lock (_running) pending = [.. _running];
        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.SlotRecycleFailed, LogLevel.Warning, "Recycling sandbox slot {Slot} failed (try {Try}); retrying in {BackoffMs} ms")]
        public static partial void Retrying(ILogger logger, string slot, int @try, double backoffMs, Exception exception);

        [LoggerMessage(Diagnostics.EventIds.SlotQuarantined, LogLevel.Error,
            "Sandbox slot {Slot} could not be recycled in {Tries} tries and is quarantined: capacity is one slot less until restart")]
        public static partial void Quarantined(ILogger logger, string slot, int tries, Exception exception);
    }
}
