using Microsoft.Extensions.Logging;
using Warden.Core.Admission;
using Warden.Core.Sandboxing;

namespace Warden.Core.Sessions;

/// <summary>A kernel started ahead of demand, with the memory it holds in the budget until a session takes both.</summary>
internal sealed record WarmKernel(KernelProcess Process, MemoryLease Lease);

/// <summary>
/// Warm kernels (<see cref="SessionOptions.WarmKernels"/>): kernels of the default language and the sessions' default
/// limits, started in sandboxes of their own and waiting, loaded, for the next session that asks for exactly that.
/// </summary>
/// <remarks>
/// A warm kernel is fresh: no cell has run in it, and it leaves the pool for good when a session takes it (the session
/// destroys it as any other). None is ever handed back, so nothing of one principal reaches another. Each holds its
/// memory limit in the budget while it waits (a session taking it takes the lease over); when the budget cannot hold
/// one, none is started. A start that fails waits <see cref="RetryAfter"/> before the next try.
/// </remarks>
internal sealed partial class KernelPool : IAsyncDisposable
{
    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(5);
    private readonly BackendStartup _backends;
    private readonly KernelDefinition? _kernel;
    private readonly SessionLimits _limits;
    private readonly int _target;
    private readonly TimeSpan _startTimeout;
    private readonly MemoryBudget _memory;
    private readonly ILogger _logger;
    private readonly Queue<WarmKernel> _ready = new();
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stopping = new();
    private Task _filling = Task.CompletedTask;
    private DateTimeOffset _retryAt;
    private bool _disposed;

    public KernelPool(BackendStartup backends, KernelDefinition? kernel, SessionLimits limits, SessionOptions options, MemoryBudget memory, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _backends = backends;
        _kernel = kernel;
        _limits = limits;
        _target = kernel is null ? 0 : options.WarmKernels;
        _startTimeout = TimeSpan.FromSeconds(options.StartTimeoutSeconds);
        _memory = memory;
        _logger = logger;
    }

    /// <summary>Kernels waiting now (for tests and status).</summary>
    public int Count
    {
        get { lock (_lock) return _ready.Count; }
    }

    /// <summary>A warm kernel for a session of <paramref name="kernel"/> with <paramref name="limits"/>, or null (then it starts its own).</summary>
    public WarmKernel? TryTake(KernelDefinition kernel, SessionLimits limits)
    {
        if (_target == 0 || kernel.Language != _kernel!.Language || limits != _limits) return null;
        WarmKernel? taken = null;
        List<WarmKernel> dead = [];
        lock (_lock)
        {
            while (taken is null && _ready.TryDequeue(out var next))
            {
                if (next.Process.Gone.IsCompleted) dead.Add(next);
                else taken = next;
            }
        }
        foreach (var gone in dead) _ = DestroyAsync(gone);
        Fill();
        return taken;
    }

    /// <summary>Starts kernels in the background until <see cref="SessionOptions.WarmKernels"/> wait (no-op while a fill runs).</summary>
    public void Fill()
    {
        lock (_lock)
        {
            if (_disposed || _target == 0 || !_filling.IsCompleted || _ready.Count >= _target) return;
            _filling = Task.Run(FillAsync);
        }
    }

    private async Task FillAsync()
    {
        var cancellationToken = _stopping.Token;
        while (!cancellationToken.IsCancellationRequested)
        {
            var wait = _retryAt - DateTimeOffset.UtcNow;
            if (wait > TimeSpan.Zero) await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
            lock (_lock)
                if (_disposed || _ready.Count >= _target) return;
            // Optional work: a budget that cannot hold one more kernel keeps it for sessions that ask.
            if (_memory.TryReserve(_limits.Sandbox.MemoryBytes) is not { } lease) return;
            KernelProcess process;
            try
            {
                var backend = await _backends.SessionsAsync(cancellationToken).ConfigureAwait(false);
                process = await KernelProcess.StartAsync(backend, _kernel!, _limits, "warm-" + Guid.NewGuid().ToString("N")[..12], _startTimeout,
                    cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                lease.Dispose();
                _retryAt = DateTimeOffset.UtcNow + RetryAfter;
                Log.WarmKernelFailed(_logger, _kernel!.Language, e.Message);
                continue;
            }
            catch
            {
                lease.Dispose();
                throw;
            }
            var warm = new WarmKernel(process, lease);
            bool keep;
            lock (_lock)
            {
                keep = !_disposed;
                if (keep) _ready.Enqueue(warm);
            }
            if (!keep) await DestroyAsync(warm).ConfigureAwait(false);
        }
    }

    private static async Task DestroyAsync(WarmKernel warm)
    {
        try { await warm.Process.DisposeAsync().ConfigureAwait(false); }
        finally { warm.Lease.Dispose(); }
    }

    public async ValueTask DisposeAsync()
    {
        Task filling;
        WarmKernel[] left;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            filling = _filling;
            left = [.. _ready];
            _ready.Clear();
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        try { await filling.ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        foreach (var warm in left) await DestroyAsync(warm).ConfigureAwait(false);
        _stopping.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.WarmKernelFailed, LogLevel.Warning, "A warm {Language} kernel could not start (retried in 5 s): {Reason}")]
        public static partial void WarmKernelFailed(ILogger logger, string language, string reason);
    }
}
