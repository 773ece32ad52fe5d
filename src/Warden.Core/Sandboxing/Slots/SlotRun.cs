using System.Text;
using Warden.Core.Cgroups;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Core.Processes;

namespace Warden.Core.Sandboxing.Slots;

/// <summary>What the isolation tool reported about the program, read after the run.</summary>
internal readonly record struct StartEvidence(bool Started, int? ExitCode);

/// <summary>
/// One run of a parked helper, common to every slot-based backend: write the limits to the cgroup, send the control
/// block, drain the output into the <see cref="RunSupervisor"/> (which holds the wall clock, the caps, the CPU watch and
/// decides the outcome, as for every backend), kill the whole cgroup when it says so, read the counters.
/// The backend supplies the control block and how to tell that the program really started.
/// </summary>
internal static class SlotRun
{
    public static Task<ProcessOutcome> RunAsync(SandboxSlot slot, ParkedHelper helper, IReadOnlyList<string> control,
        SandboxCommand command, ResourceLimits limits, ResourceLimits cgroupLimits, Func<ParkedHelper, Task<StartEvidence>> evidence,
        CancellationToken cancellationToken, bool watchCpuTime = false)
    {
        slot.Cgroup?.Apply(cgroupLimits);
        return RunLaunchedAsync(slot, helper, h => SendControlAsync(h, control), command, limits, evidence, cancellationToken, watchCpuTime);
    }

    /// <summary>
    /// The run itself, once the cgroup carries this run's limits: <paramref name="launch"/> is what starts the program
    /// (the control block for a parked helper, the go-message for a warm sandbox whose tool already runs).
    /// Accounting starts here, so a warm sandbox's stub start-up is not charged to the program.
    /// </summary>
    /// <param name="reportedExit">For a sandbox whose program reports its own end ahead of the tool's exit (see
    /// <see cref="ExitReport"/>): completes with the program's exit status, or null when it ended without a report.
    /// A report ends the run at once; the tool's own teardown is left to the slot's recycling.</param>
    public static async Task<ProcessOutcome> RunLaunchedAsync(SandboxSlot slot, ParkedHelper helper, Func<ParkedHelper, Task> launch,
        SandboxCommand command, ResourceLimits limits, Func<ParkedHelper, Task<StartEvidence>> evidence,
        CancellationToken cancellationToken, bool watchCpuTime = false, Task<int?>? reportedExit = null)
    {
        var cgroup = slot.Cgroup;
        cgroup?.Baseline();

        using var supervisor = new RunSupervisor(command, limits, cancellationToken);
        var exit = helper.Process.WaitForExitAsync();
        if (watchCpuTime && cgroup is not null) supervisor.WatchCpuTime(cgroup, limits.CpuTime);
        var started = evidence(helper);
        using var finish = new CancellationTokenSource();
        var drains = Task.WhenAll(supervisor.Stdout.DrainAsync(helper.Stdout, finish.Token), supervisor.Stderr.DrainAsync(helper.Stderr, finish.Token));

        // A warm sandbox can die before its go-message (killed from outside): the write fails, the tool exits without
        // the program's start evidence, and the run ends as a sandbox error instead of an exception.
        bool launched = true;
        try { await launch(helper).ConfigureAwait(false); }
        catch (IOException) { launched = false; }
        if (launched) supervisor.FeedStdin(stop => FeedStdinAsync(helper.Stdin, command.Stdin, command.StdinStream, stop));

        var (killed, reported) = await supervisor.WaitAsync(EndAsync(exit, reportedExit)).ConfigureAwait(false);
        if (killed) await KillAsync(helper, cgroup).ConfigureAwait(false);
        // A reported end: the tool still tears the sandbox down (the slot's recycling waits for it), so its exit, the
        // pipes' end and the start evidence are not waited for.
        int waitStatus = reported is null ? await exit.ConfigureAwait(false) : 0;
        await supervisor.StopAsync().ConfigureAwait(false);

        // The tool's death takes every process of the sandbox with it, so the pipes close right after; the bound only
        // matters if something outlived it, which the cgroup sweep removes.
        if (reported is not null) await finish.CancelAsync().ConfigureAwait(false);
        else if (cgroup is not null && !cgroup.IsEmpty()) await cgroup.KillAllAsync(CancellationToken.None).ConfigureAwait(false);
        await Task.WhenAny(drains, Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None)).ConfigureAwait(false);
        await supervisor.Feed.ConfigureAwait(false);
        var (childStarted, childExit) = reported is int status ? new StartEvidence(true, status) : await started.ConfigureAwait(false);
        var counters = cgroup?.Read() ?? new CgroupCounters(0, TimeSpan.Zero, 0);

        int code = childExit ?? (WaitStatus.Exited(waitStatus) ? WaitStatus.ExitCode(waitStatus) : 128 + WaitStatus.TermSignal(waitStatus));
        return supervisor.Outcome(childStarted, killed, ShellStatus.Decode(code), counters,
            sandboxError: !childStarted && !killed ? "the sandbox failed to start: " + Encoding.UTF8.GetString(supervisor.Stderr.ToArray()).Trim() : null);
    }

    /// <summary>The program's reported exit status, or null once the tool has exited (no report, or none to wait for).</summary>
    private static async Task<int?> EndAsync(Task<int> exit, Task<int?>? reportedExit)
    {
        if (reportedExit is not null && await Task.WhenAny(exit, reportedExit).ConfigureAwait(false) == reportedExit
            && await reportedExit.ConfigureAwait(false) is int status)
            return status;
        await exit.ConfigureAwait(false);
        return null;
    }

    /// <summary>
    /// Kills the sandbox but not the helper: it is the subreaper of the sandbox's processes and reaps them, so none
    /// is left as a zombie for the host's init. Without a cgroup (degraded mode) the helper goes, and bwrap's
    /// --die-with-parent takes the sandbox with it.
    /// </summary>
    private static async Task KillAsync(ParkedHelper helper, ICgroup? cgroup)
    {
        if (cgroup is null)
        {
            helper.Process.Kill();
            return;
        }
        await cgroup.KillAllButAsync([helper.Process.Pid], CancellationToken.None).ConfigureAwait(false);
        try { await helper.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); }
        catch (TimeoutException) { helper.Process.Kill(); }
    }

    private static Task SendControlAsync(ParkedHelper helper, IReadOnlyList<string> fields) => helper.LaunchAsync(Encode(fields));

    /// <summary>The control block: NUL-terminated fields (see native/warden-exec.c).</summary>
    public static byte[] Encode(IReadOnlyList<string> fields)
    {
        var block = new StringBuilder();
        foreach (var field in fields)
        {
            if (field.Contains('\0')) throw new InvalidRequestException("Arguments and environment must not contain NUL characters.");
            block.Append(field).Append('\0');
        }
        return Encoding.UTF8.GetBytes(block.ToString());
    }

    private static async Task FeedStdinAsync(Stream stdin, byte[] data, Stream? source, CancellationToken stop)
    {
        try
        {
            await StdinFeed.WriteAsync(stdin, data, source, stop).ConfigureAwait(false);
        }
        catch (IOException)
        {
            // The program exited or closed stdin without reading it all: not an error.
        }
        catch (OperationCanceledException)
        {
            // The program exited while interactive input was still open.
        }
        finally
        {
            try { await stdin.DisposeAsync().ConfigureAwait(false); } catch (IOException) { }
        }
    }
}
