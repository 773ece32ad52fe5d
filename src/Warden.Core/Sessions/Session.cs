using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Core.Ownership;
using Warden.Core.Sandboxing;

namespace Warden.Core.Sessions;

/// <summary>
/// A stateful kernel in a long-lived sandbox. Cells run one at a time, each under its own timeout and output cap;
/// CPU time and peak memory are measured per cell. A kernel lost to a kill or crash is replaced on the next cell.
/// </summary>
public sealed partial class Session : IAsyncDisposable
{
    private readonly BackendStartup _backend;
    private readonly LimitPolicy _policy;
    private readonly SessionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private KernelProcess? _kernel;
    private int _incarnation;
    private long _lastActivityTicks;
    private int _closed;

    private readonly IDisposable _memory;
    private KernelProcess? _warm;

    internal Session(string id, Principal owner, KernelDefinition kernel, SessionLimits limits, BackendStartup backend, LimitPolicy policy,
        SessionOptions options, TimeProvider time, ILogger logger, IDisposable memory, KernelProcess? warm = null)
    {
        _memory = memory;
        _warm = warm;
        Id = id;
        Owner = owner;
        Kernel = kernel;
        Limits = limits;
        _backend = backend;
        _policy = policy;
        _options = options;
        _time = time;
        _logger = logger;
        CreatedAt = time.GetUtcNow();
        _lastActivityTicks = CreatedAt.UtcTicks;
    }

    public string Id { get; }
    /// <summary>Who the session belongs to; only they (or an admin acting as itself) can see or use it.</summary>
    public Principal Owner { get; }
    public KernelDefinition Kernel { get; }
    public SessionLimits Limits { get; }
    public DateTimeOffset CreatedAt { get; }
    public DateTimeOffset LastActivity => new(Interlocked.Read(ref _lastActivityTicks), TimeSpan.Zero);
    public SessionState State { get; private set; } = SessionState.Starting;
    public int ExecutionCount { get; private set; }

    /// <summary>
    /// The session's network when it was created with it: every kernel incarnation gets a namespace of its own and a grant
    /// for the session's owner, revoked when that kernel's sandbox is destroyed. Null without network.
    /// </summary>
    internal Networking.LongLivedEgress? Egress { get; init; }

    /// <summary>The hosts the session may reach through the egress proxy; null without network.</summary>
    public Egress.EgressPolicy? Network => Egress?.Patterns;

    /// <summary>Marks the session as used now (any client message counts, not only cells).</summary>
    public void Touch() => Interlocked.Exchange(ref _lastActivityTicks, _time.GetUtcNow().UtcTicks);

    internal async Task StartAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try { await StartKernelAsync(cancellationToken).ConfigureAwait(false); }
        finally { _gate.Release(); }
    }

    /// <summary>
    /// Runs one cell. <paramref name="onOutput"/> sees each output as it is produced (it may be null); the result has
    /// them all. Limits hit by the cell are reported in the result, not thrown.
    /// </summary>
    public async Task<CellResult> ExecuteAsync(CellRequest request, Func<CellOutput, CancellationToken, ValueTask>? onOutput,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var timeout = LimitPolicy.ResolveCellTimeout(request.TimeoutSeconds, Limits, _options);
        if (request.Code.Length > _policy.Options.MaxCodeBytes)
            throw new PayloadTooLargeException($"The code is {request.Code.Length} characters; the limit is {_policy.Options.MaxCodeBytes}.");
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            if (_kernel is null) await StartKernelAsync(cancellationToken).ConfigureAwait(false);
            var kernel = _kernel!;
            State = SessionState.Busy;
            Touch();
            var stopwatch = Stopwatch.StartNew();
            kernel.Sandbox.ResetCounters();
            Task? escalation = null;
            var escalationLock = new Lock();
            CellRun run = null!;
            void Escalate()
            {
                lock (escalationLock) escalation ??= EscalateAsync(kernel, run);
            }
            run = new CellRun(++ExecutionCount, Limits.MaxOutputBytes, onOutput, Escalate, cancellationToken);
            await kernel.BeginAsync(run, request.Code, cancellationToken).ConfigureAwait(false);

            bool timedOut = false, cancelled = false;
            try
            {
                await run.Completion.WaitAsync(timeout, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is TimeoutException or OperationCanceledException)
            {
                cancelled = cancellationToken.IsCancellationRequested;
                timedOut = !cancelled;
                Escalate();
            }
            Task? pending;
            lock (escalationLock) pending = escalation;
            if (pending is not null) await pending.ConfigureAwait(false);
            var driverStatus = await run.Completion.ConfigureAwait(false);
            kernel.End(run);
            stopwatch.Stop();

            var counters = kernel.Sandbox.ReadCounters();
            bool lost = driverStatus == "lost";
            if (lost) await DropKernelAsync(kernel).ConfigureAwait(false);
            var (status, detail) = Classify(driverStatus, timedOut, cancelled, run.OutputLimitHit, counters.OomKills > 0, timeout, lost ? kernel : null);
            if (!lost) State = SessionState.Idle;
            Touch();
            Log.CellFinished(_logger, Id, run.ExecutionCount, status.ToWireName(), stopwatch.ElapsedMilliseconds);
            return new CellResult
            {
                Status = status, ExecutionCount = run.ExecutionCount, Outputs = run.Outputs, Error = run.Error, WallTime = stopwatch.Elapsed,
                CpuTime = counters.CpuTime, PeakMemoryBytes = counters.PeakMemoryBytes, OutputTruncated = run.OutputLimitHit,
                KernelLost = lost, Detail = detail,
            };
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Interrupt first (KeyboardInterrupt in Python); a cell that does not stop within the grace period loses its kernel.</summary>
    private async Task EscalateAsync(KernelProcess kernel, CellRun run)
    {
        await kernel.Sandbox.InterruptAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            await run.Completion.WaitAsync(TimeSpan.FromSeconds(_options.InterruptGraceSeconds), _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log.KernelKilled(_logger, Id);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await kernel.Sandbox.KillAsync(timeout.Token).ConfigureAwait(false);
        }
    }

    private static (ExecutionStatus, string?) Classify(string driverStatus, bool timedOut, bool cancelled, bool outputLimit, bool oom,
        TimeSpan timeout, KernelProcess? lostKernel)
    {
        string lostNote = lostKernel is null ? "" : " The kernel was killed and its state is lost; the next cell starts a fresh kernel.";
        if (oom) return (ExecutionStatus.MemoryLimit, "The session ran out of memory (its cgroup limit)." + lostNote);
        if (timedOut) return (ExecutionStatus.Timeout, $"The cell exceeded its {timeout.TotalSeconds:0.###} s timeout and was interrupted." + lostNote);
        if (outputLimit) return (ExecutionStatus.OutputLimit, "The cell exceeded its output limit and was interrupted." + lostNote);
        if (cancelled) return (ExecutionStatus.Killed, "The caller cancelled the cell; it was interrupted." + lostNote);
        if (lostKernel is not null)
            return (ExecutionStatus.Killed, "The kernel died." + lostNote + Tail(lostKernel.Sandbox.RecentErrors));
        return (CellRun.StatusOf(driverStatus), driverStatus == "ok" ? null : "The cell raised an exception.");
    }

    private static string Tail(string errors) => errors.Length == 0 ? "" : " Kernel stderr: " + (errors.Length > 1000 ? errors[^1000..] : errors).Trim();

    /// <summary>Sends an interrupt (SIGINT) to the kernel and its child processes; a no-op when it is idle.</summary>
    public async ValueTask InterruptAsync(CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        Touch();
        if (Volatile.Read(ref _kernel) is { } kernel) await kernel.Sandbox.InterruptAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Kills the kernel (a running cell ends as lost) and starts a fresh one: every variable is gone.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken)
    {
        ThrowIfClosed();
        Touch();
        State = SessionState.Restarting;
        if (Interlocked.Exchange(ref _kernel, null) is { } old) await old.DisposeAsync().ConfigureAwait(false);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            if (_kernel is { } stale) await DropKernelAsync(stale).ConfigureAwait(false);
            ExecutionCount = 0;
            await StartKernelAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task StartKernelAsync(CancellationToken cancellationToken)
    {
        State = SessionState.Starting;
        var name = $"{Id}-{++_incarnation}";
        KernelProcess kernel;
        try
        {
            // A warm kernel (KernelPool) serves the first incarnation only, and only while it is still alive.
            if (Interlocked.Exchange(ref _warm, null) is { } warm)
            {
                if (!warm.Gone.IsCompleted)
                {
                    await PublishAsync(warm).ConfigureAwait(false);
                    return;
                }
                await warm.DisposeAsync().ConfigureAwait(false);
            }
            var backend = await _backend.SessionsAsync(cancellationToken).ConfigureAwait(false);
            kernel = await KernelProcess.StartAsync(backend, Kernel, Limits, name, TimeSpan.FromSeconds(_options.StartTimeoutSeconds),
                cancellationToken, Egress?.GrantFor(Owner.ToString(), name)).ConfigureAwait(false);
        }
        catch
        {
            State = SessionState.Dead;
            throw;
        }
        await PublishAsync(kernel).ConfigureAwait(false);
    }

    private async Task PublishAsync(KernelProcess kernel)
    {
        // Publish, then check for a dispose that ran while the kernel started (a delete, the reaper, shutdown): it found no
        // kernel to stop and gave the memory back, so this one would run on in no list and outside the budget. Both sides
        // use full fences (publish here, _closed there), so one of them always sees the other and exactly one disposes it.
        Interlocked.Exchange(ref _kernel, kernel);
        if (Volatile.Read(ref _closed) != 0)
        {
            if (Interlocked.Exchange(ref _kernel, null) is { } orphan) await orphan.DisposeAsync().ConfigureAwait(false);
            throw new SessionNotFoundException(Id);
        }
        State = SessionState.Idle;
    }

    private async Task DropKernelAsync(KernelProcess kernel)
    {
        Interlocked.CompareExchange(ref _kernel, null, kernel);
        State = SessionState.Dead;
        await kernel.DisposeAsync().ConfigureAwait(false);
    }

    private void ThrowIfClosed()
    {
        if (Volatile.Read(ref _closed) != 0) throw new SessionNotFoundException(Id);
    }

    /// <summary>Destroys the kernel and its sandbox; a cell still running ends as lost.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        State = SessionState.Closed;
        try
        {
            if (Interlocked.Exchange(ref _kernel, null) is { } kernel) await kernel.DisposeAsync().ConfigureAwait(false);
            if (Interlocked.Exchange(ref _warm, null) is { } warm) await warm.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            // The sandbox is gone (and with it its grant): its memory limit no longer counts against the budget.
            _memory.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.CellFinished, LogLevel.Debug, "Session {SessionId} cell {Count} finished: {Status} in {Milliseconds} ms")]
        public static partial void CellFinished(ILogger logger, string sessionId, int count, string status, long milliseconds);

        [LoggerMessage(Diagnostics.EventIds.KernelKilled, LogLevel.Warning, "Session {SessionId}: the cell did not stop after an interrupt; kernel killed")]
        public static partial void KernelKilled(ILogger logger, string sessionId);
    }
}
