using Warden.Core.Limits;
using Warden.Core.Pool;

namespace Warden.Core.Sandboxing.Slots;

/// <summary>
/// A sandbox started ahead of its request on a warm slot, common to every slot-based backend: the backend's tool already
/// runs the language stub, which waits on stdin for the go-message. One run, then the slot is emptied and recycled;
/// nothing of this sandbox survives into the next. Backends say how the request's limits map onto the cgroup, how to
/// tell that the program started, and what to clean up besides the slot.
/// </summary>
internal abstract class SlotWarmSandbox(SlotPool pool, SandboxSlot slot, ParkedHelper helper, WarmRecipe recipe)
    : SlotSandbox(pool, slot), IWarmSandbox
{
    private int _used;

    public WarmRecipe Recipe => recipe;

    public bool IsAlive => !helper.Process.HasExited;

    /// <summary>The cgroup limits for a run with these limits (the tool's own overhead included).</summary>
    protected virtual ResourceLimits CgroupLimits(ResourceLimits limits) => limits;

    /// <summary>True for backends whose sandbox ignores RLIMIT_CPU: the cgroup's CPU time is watched instead.</summary>
    protected virtual bool WatchCpuTime => false;

    /// <summary>What the tool reported about the program (see <see cref="SlotRun"/>).</summary>
    protected abstract Task<StartEvidence> StartedAsync(ParkedHelper helper);

    /// <summary>Backend cleanup once the sandbox's processes are gone, before the slot is reused; null for none.</summary>
    protected virtual Func<Task>? Cleanup => null;

    /// <summary>The program's exit as the stub reports it ahead of the tool's exit (see <see cref="ExitReport"/>); null for none.</summary>
    protected virtual Task<int?>? ReadExitReport() => null;

    private Task<int?>? _report;

    public bool TryArm(ResourceLimits limits)
    {
        try
        {
            Slot.Cgroup?.Apply(CgroupLimits(limits));
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    public override Task<ProcessOutcome> RunAsync(SandboxCommand command, ResourceLimits limits, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _used, 1) != 0) throw new InvalidOperationException("A warm sandbox runs one program only.");
        if (!WarmProfile.Fits(recipe.IdleLimits, limits))
            throw new InvalidOperationException("The request's limits profile (/tmp size, network, CPU time) differs from the warm sandbox's.");
        var go = WarmRecipes.GoMessage(recipe, command);
        _report = ReadExitReport();
        return SlotRun.RunLaunchedAsync(Slot, helper, h => h.SendGoAsync(go), command, limits, StartedAsync, cancellationToken, WatchCpuTime,
            _report);
    }

    /// <summary>
    /// A run that ended on the program's exit report may leave the tool tearing down, or a child the program forked
    /// still running: a warm sandbox runs once, so everything in its cgroup goes, the tool included. Without cgroups the
    /// tool is killed and its pid namespace goes with it.
    /// </summary>
    protected override async Task StopAsync()
    {
        if (Slot.Cgroup is { } cgroup)
        {
            await cgroup.KillAllAsync(CancellationToken.None).ConfigureAwait(false);
            return;
        }
        if (helper.Process.HasExited) return;
        helper.Process.Kill();
        await helper.Process.WaitForExitAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// After a reported exit the tool is still tearing the sandbox down: how long the recycling lets it finish before it
    /// kills what is left (the report may be the program's own, written while it goes on running).
    /// </summary>
    protected abstract TimeSpan TeardownGrace { get; }

    protected override void Release() =>
        Pool.RecycleWarm(Slot, helper, Cleanup, _report is { IsCompletedSuccessfully: true, Result: not null } ? TeardownGrace : TimeSpan.Zero);
}
