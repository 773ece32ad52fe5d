using Warden.Core.Limits;
using Warden.Core.Pool;
using Warden.Core.Sandboxing.Slots;

namespace Warden.Core.Sandboxing.Gvisor;

/// <summary>
/// A gVisor sandbox started ahead of its request on a warm slot: runsc has booted the Sentry and the language stub waits
/// on stdin for the go-message. One run, then the container is deleted and the slot recycled.
/// </summary>
internal sealed class GvisorWarmSandbox(GvisorBackend backend, SlotPool pool, SandboxSlot slot, ParkedHelper helper, WarmRecipe recipe,
    GvisorRun run) : SlotSandbox(pool, slot), IWarmSandbox
{
    private int _used;

    public WarmRecipe Recipe => recipe;

    public override string WorkspacePath => OciSpec.Workspace;

    public bool IsAlive => !helper.Process.HasExited;

    public bool TryArm(ResourceLimits limits)
    {
        try
        {
            Slot.Cgroup?.Apply(GvisorBackend.CgroupLimits(limits, backend.Options));
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
        // As on the cold path, gVisor ignores RLIMIT_CPU: the cgroup's CPU time is watched from go on.
        return SlotRun.RunLaunchedAsync(Slot, helper, h => h.SendGoAsync(go), command, limits, h => GvisorSandbox.StartedAsync(h, run.PidFile),
            cancellationToken, watchCpuTime: true);
    }

    /// <summary>The slot is recycled once the killed container's record is deleted (runsc leaves one behind).</summary>
    protected override void Release() => Pool.RecycleWarm(Slot, helper, () => backend.DeleteIfLeftAsync(run.ContainerId));
}
