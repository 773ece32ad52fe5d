using System.Diagnostics;
using System.Text;
using Warden.Core.Sandboxing;

namespace Warden.Core.Execution;

public sealed partial class ExecutionEngine
{
    /// <summary>What the check's program prints; nothing else proves that a program ran in the sandbox.</summary>
    internal const string CheckMarker = "warden-sandbox-check";

    /// <summary>
    /// Starts a tiny program (<c>/bin/sh -c 'echo …'</c>) in a real sandbox of the selected backend, the way every cold
    /// run starts, under the default limits: what doctor, readiness and health report. A broken sandbox (a state
    /// directory the slot's uid cannot pass through, a bind source that is missing) fails here although the backend
    /// started. Null when every slot is running a program: the check never queues behind them, and a busy server has
    /// its own evidence.
    /// </summary>
    public async Task<SandboxCheckResult?> CheckSandboxAsync(CancellationToken cancellationToken)
    {
        if (!_slots.Wait(0, CancellationToken.None)) return null;
        var holding = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _checkHolding, holding);
        var watch = Stopwatch.StartNew();
        try
        {
            await using var sandbox = await _backends.Selected.AcquireAsync(cancellationToken).ConfigureAwait(false);
            var command = new SandboxCommand(["/bin/sh", "-c", "echo " + CheckMarker], new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin" }, []);
            var outcome = await sandbox.RunAsync(command, _limits.Resolve(null), cancellationToken).ConfigureAwait(false);
            var stdout = Encoding.UTF8.GetString(outcome.Stdout);
            bool ok = outcome.Started && outcome.ExitCode == 0 && stdout == CheckMarker + "\n";
            return new SandboxCheckResult(ok, ok ? $"a program ran in a {Backend.Name} sandbox" : Describe(outcome, stdout), DateTimeOffset.UtcNow,
                watch.Elapsed.TotalMilliseconds);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Whatever keeps a sandbox from starting (a slot that cannot be prepared, a daemon that refuses) is the answer.
            return new SandboxCheckResult(false, $"no sandbox could be started: {e.Message}", DateTimeOffset.UtcNow, watch.Elapsed.TotalMilliseconds);
        }
        finally
        {
            Volatile.Write(ref _checkHolding, null);
            _slots.Release();
            holding.TrySetResult();
        }
    }

    /// <summary>Completes when the sandbox check gives its slot back; null while no check holds one.</summary>
    private TaskCompletionSource? _checkHolding;

    private static string Describe(ProcessOutcome outcome, string stdout)
    {
        if (!outcome.Started) return $"the sandbox did not start: {outcome.SandboxError ?? "no reason given"}";
        var stderr = Encoding.UTF8.GetString(outcome.Stderr).Trim();
        var how = outcome.Signal is int signal ? $"killed by signal {signal}"
            : outcome.WallTimeExceeded ? "timed out"
            : $"exit code {outcome.ExitCode}";
        var said = stderr.Length > 0 ? stderr : stdout.Trim();
        if (said.Length > 500) said = said[..500] + "…";
        return $"a program in the sandbox failed ({how}){(said.Length > 0 ? ": " + said : "")}";
    }
}

/// <summary>One run of <see cref="ExecutionEngine.CheckSandboxAsync"/>.</summary>
/// <param name="Ok">A program started in a real sandbox and printed what it was asked to.</param>
/// <param name="Detail">What ran, or why nothing could (the sandbox's own error).</param>
public sealed record SandboxCheckResult(bool Ok, string Detail, DateTimeOffset CheckedAt, double Milliseconds);
