using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Core.Pool;
using Warden.Core.Sandboxing.Slots;

namespace Warden.Core.Sandboxing.Bubblewrap;

/// <summary>
/// A bwrap sandbox started ahead of its request on a warm slot: bwrap already runs the language stub, which waits on
/// the go pipe. One run, then the slot is emptied and recycled; nothing of this sandbox survives into the next.
/// </summary>
internal sealed class BwrapWarmSandbox(SlotPool pool, SandboxSlot slot, ParkedHelper helper, WarmRecipe recipe)
    : SlotSandbox(pool, slot), IWarmSandbox
{
    private int _used;

    public WarmRecipe Recipe => recipe;

    public override string WorkspacePath => BwrapArguments.Workspace;

    public bool IsAlive => !helper.Process.HasExited;

    public bool TryArm(ResourceLimits limits)
    {
        try
        {
            Slot.Cgroup?.Apply(limits);
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
        return SlotRun.RunLaunchedAsync(Slot, helper, h => h.SendGoAsync(go), command, limits, BwrapSandbox.ReadStatusAsync,
            cancellationToken);
    }

    protected override void Release() => Pool.RecycleWarm(Slot, helper);
}
