using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Warden.Core.Execution;

/// <summary>
/// The sandbox check behind readiness and health (<see cref="ExecutionEngine.CheckSandboxAsync"/>), cheap enough to poll:
/// a result is reused for <see cref="WardenOptions.SandboxCheckSeconds"/>, and at most one check runs at a time (callers
/// arriving meanwhile wait for the same one). While every slot is busy the last result stands. Disposing stops a check
/// in flight and waits for its sandbox to be gone: the backend is disposed after this, and must find its slots empty.
/// </summary>
public sealed partial class SandboxCheck(ExecutionEngine engine, IOptions<WardenOptions> options, TimeProvider time, ILogger<SandboxCheck> logger)
    : IAsyncDisposable
{
    /// <summary>Longest a check may take (a gVisor cold start under load takes seconds; a hung one must not stick).</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private readonly TimeSpan _maxAge = TimeSpan.FromSeconds(options.Value.SandboxCheckSeconds);
    private readonly Lock _gate = new();
    private Task<SandboxCheckResult?>? _running;
    private SandboxCheckResult? _last;
    private DateTimeOffset _lastAt;
    private long _runs;
    private readonly CancellationTokenSource _stopping = new();
    private bool _disposed;

    /// <summary>Checks started so far (each a real sandbox start).</summary>
    public long Runs => Interlocked.Read(ref _runs);

    /// <summary>
    /// The last result while it is fresh, else a new check's. Null only when no check has finished yet and every slot
    /// is busy. The caller's token stops its waiting, not the check (whose result the next caller gets).
    /// </summary>
    public Task<SandboxCheckResult?> CurrentAsync(CancellationToken cancellationToken)
    {
        Task<SandboxCheckResult?> running;
        lock (_gate)
        {
            if (_last is { } last && time.GetUtcNow() - _lastAt < _maxAge) return Task.FromResult<SandboxCheckResult?>(last);
            if (_disposed) return Task.FromResult(_last);
            running = _running ??= RunAsync();
        }
        return running.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// The last result, at once, whatever its age (null before the first check finished); a stale or missing one starts
    /// a check in the background for the next caller. For health, which must answer without starting a sandbox.
    /// </summary>
    public SandboxCheckResult? Peek()
    {
        lock (_gate)
        {
            if (!_disposed && (_last is null || time.GetUtcNow() - _lastAt >= _maxAge)) _running ??= RunAsync();
            return _last;
        }
    }

    private async Task<SandboxCheckResult?> RunAsync()
    {
        // Leave the caller's lock before anything else runs.
        await Task.Yield();
        Interlocked.Increment(ref _runs);
        SandboxCheckResult? result;
        using (var timeout = new CancellationTokenSource(Bound, time))
        using (var stop = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _stopping.Token))
        {
            try
            {
                result = await engine.CheckSandboxAsync(stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopped by shutdown: no verdict. Otherwise the bound ran out, which is one.
                result = _stopping.IsCancellationRequested ? null
                    : new SandboxCheckResult(false, $"no sandbox answered within {Bound.TotalSeconds} s", time.GetUtcNow(), Bound.TotalMilliseconds);
            }
        }
        lock (_gate)
        {
            _running = null;
            if (result is null) return _last;
            // Once per change, not at every poll while it stays broken.
            if (!result.Ok && _last?.Ok != false) Log.Failed(logger, result.Detail);
            else if (result.Ok && _last?.Ok == false) Log.Recovered(logger, result.Detail);
            _last = result;
            _lastAt = time.GetUtcNow();
            return result;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task<SandboxCheckResult?>? running;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            running = _running;
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (running is not null) await running.ConfigureAwait(false);
        _stopping.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.SandboxCheckFailed, LogLevel.Error, "Sandbox check failed: {Detail}; readiness and health report it")]
        public static partial void Failed(ILogger logger, string detail);

        [LoggerMessage(Diagnostics.EventIds.SandboxCheckRecovered, LogLevel.Information, "Sandbox check passes again: {Detail}")]
        public static partial void Recovered(ILogger logger, string detail);
    }
}
