using Warden.Core.Pool;
using Warden.Core.Sandboxing.Slots;

namespace Warden.Core.Sandboxing.Bubblewrap;

/// <summary>A bwrap sandbox started ahead of its request: bwrap already runs the language stub.</summary>
internal sealed class BwrapWarmSandbox(SlotPool pool, SandboxSlot slot, ParkedHelper helper, WarmRecipe recipe)
    : SlotWarmSandbox(pool, slot, helper, recipe)
{
    public override string WorkspacePath => BwrapArguments.Workspace;

    protected override Task<StartEvidence> StartedAsync(ParkedHelper helper) => BwrapSandbox.ReadStatusAsync(helper);
}
