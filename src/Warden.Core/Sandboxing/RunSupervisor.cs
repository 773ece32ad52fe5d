using System.Diagnostics;
using Warden.Core.Cgroups;
using Warden.Core.Execution;
using Warden.Core.Limits;

namespace Warden.Core.Sandboxing;

/// <summary>
/// The supervision of one run, the same for every backend: the wall clock, the output caps while output streams, the
/// cgroup CPU watch, the caller's cancellation, the stdin feed, and the outcome decided from which of them fired
/// (<see cref="KillCause"/>). The backend starts the program, tells when it ended, kills it when <see cref="WaitAsync"/>
/// says so, and reads its evidence and counters; everything the caller can observe about limits is decided here.
/// </summary>
internal sealed class RunSupervisor : IDisposable
{
    private readonly CancellationToken _caller;
    private readonly CancellationTokenSource _wall;
    private readonly CancellationTokenSource _kill;
    private readonly CancellationTokenSource _feedStop = new();
    private readonly CancellationTokenSource _watchStop = new();
    private readonly Stopwatch _clock;
    private Task _watch = Task.CompletedTask;
    private int _outputHit, _cpuHit;

    /// <summary>Starts the clock: the run's wall time counts from here.</summary>
    public RunSupervisor(SandboxCommand command, ResourceLimits limits, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(limits);
        _caller = cancellationToken;
        _clock = Stopwatch.StartNew();
        _wall = new CancellationTokenSource(limits.WallTime);
        _kill = CancellationTokenSource.CreateLinkedTokenSource(_wall.Token, cancellationToken);
        var onOutput = command.OnOutput;
        Stdout = new CappedReader(limits.MaxOutputBytes, OnOutputLimit, onOutput is null ? null : d => onOutput(OutputStreamKind.Stdout, d));
        Stderr = new CappedReader(limits.MaxOutputBytes, OnOutputLimit, onOutput is null ? null : d => onOutput(OutputStreamKind.Stderr, d));
    }

    /// <summary>The program's stdout, capped at the run's output limit: reaching it kills the run.</summary>
    public CappedReader Stdout { get; }

    /// <summary>The program's stderr, capped like <see cref="Stdout"/>.</summary>
    public CappedReader Stderr { get; }

    /// <summary>The stdin feed started by <see cref="FeedStdin"/>; it ends once the program is gone (see <see cref="StopAsync"/>).</summary>
    public Task Feed { get; private set; } = Task.CompletedTask;

    /// <summary>
    /// For backends whose sandbox ignores RLIMIT_CPU (gVisor): the kernel's CPU accounting of the whole cgroup, checked
    /// every 50 ms; reaching the limit kills the run. It counts the isolation layer's own work for the program too.
    /// </summary>
    public void WatchCpuTime(ICgroup cgroup, TimeSpan limit)
    {
        ArgumentNullException.ThrowIfNull(cgroup);
        _watch = WatchCpuTimeAsync(cgroup, limit, _watchStop.Token);
    }

    /// <summary>Starts feeding stdin with <paramref name="feed"/>; its token fires once the program is gone (an interactive stdin may never end).</summary>
    public void FeedStdin(Func<CancellationToken, Task> feed)
    {
        ArgumentNullException.ThrowIfNull(feed);
        Feed = feed(_feedStop.Token);
    }

    /// <summary>
    /// Waits for <paramref name="end"/> until a limit or the caller stops the run. Killed: the backend must kill the
    /// sandbox now; <paramref name="end"/>'s result is then not known.
    /// </summary>
    public async Task<(bool Killed, T? Result)> WaitAsync<T>(Task<T> end)
    {
        ArgumentNullException.ThrowIfNull(end);
        try { return (false, await end.WaitAsync(_kill.Token).ConfigureAwait(false)); }
        catch (OperationCanceledException) { return (true, default); }
    }

    /// <summary>As <see cref="WaitAsync{T}(Task{T})"/> for an end without a result; true when the run must be killed.</summary>
    public async Task<bool> WaitAsync(Task end)
    {
        ArgumentNullException.ThrowIfNull(end);
        try { await end.WaitAsync(_kill.Token).ConfigureAwait(false); return false; }
        catch (OperationCanceledException) { return true; }
    }

    /// <summary>The program is gone: stops the stdin feed and the CPU watch, and the clock.</summary>
    public async Task StopAsync()
    {
        await _feedStop.CancelAsync().ConfigureAwait(false);
        await _watchStop.CancelAsync().ConfigureAwait(false);
        await _watch.ConfigureAwait(false);
        _clock.Stop();
    }

    /// <summary>What the run came to, from the backend's evidence and counters and from which limit fired.</summary>
    /// <param name="started">The program really started (not only the isolation tool).</param>
    /// <param name="status">Its exit code and signal when it ended on its own.</param>
    public ProcessOutcome Outcome(bool started, bool killed, (int? ExitCode, int? Signal) status, CgroupCounters counters, string? sandboxError = null)
    {
        var cause = KillCause.Decide(killed, _wall.IsCancellationRequested, _caller.IsCancellationRequested, _outputHit != 0, _cpuHit != 0);
        var (exitCode, signal) = !started ? (null, null) : killed ? ((int?)null, (int?)9) : status;
        return new ProcessOutcome
        {
            Started = started,
            ExitCode = exitCode,
            Signal = signal,
            WallTime = _clock.Elapsed,
            CpuTime = counters.CpuTime,
            PeakMemoryBytes = counters.PeakMemoryBytes,
            OomKills = counters.OomKills,
            WallTimeExceeded = cause.WallTimeExceeded,
            CpuTimeExceeded = cause.CpuTimeExceeded,
            OutputLimitExceeded = cause.OutputLimitExceeded,
            Cancelled = cause.Cancelled,
            Stdout = Stdout.ToArray(),
            Stderr = Stderr.ToArray(),
            StdoutTruncated = Stdout.Truncated,
            StderrTruncated = Stderr.Truncated,
            SandboxError = sandboxError,
        };
    }

    private void OnOutputLimit()
    {
        Interlocked.Exchange(ref _outputHit, 1);
        _kill.Cancel();
    }

    private async Task WatchCpuTimeAsync(ICgroup cgroup, TimeSpan limit, CancellationToken stop)
    {
        try
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                if (cgroup.Read().CpuTime < limit) continue;
                Interlocked.Exchange(ref _cpuHit, 1);
                await _kill.CancelAsync().ConfigureAwait(false);
                return;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public void Dispose()
    {
        _kill.Dispose();
        _wall.Dispose();
        _feedStop.Dispose();
        _watchStop.Dispose();
    }
}
