using Warden.Core.Pool;
using Warden.Core.Sandboxing.Slots;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Bubblewrap;

/// <summary>A bwrap sandbox started ahead of its request: bwrap already runs the language stub.</summary>
internal sealed class BwrapWarmSandbox(SlotPool pool, SandboxSlot slot, ParkedHelper helper, WarmRecipe recipe, ExitReport? report)
    : SlotWarmSandbox(pool, slot, helper, recipe)
{
    public override string WorkspacePath => SandboxSpecBuilder.DefaultWorkspace;

    protected override Task<int?>? ReadExitReport() => report?.ReadAsync();

    // bwrap's teardown (the namespaces' end) takes a few ms, and killing it midway leaves nothing behind: a short grace
    // bounds what a program that wrote the report itself gets to run after its run ended.
    protected override TimeSpan TeardownGrace => TimeSpan.FromSeconds(1);

    protected override Func<Task>? Cleanup => report is null ? null : () =>
    {
        report.Dispose();
        return Task.CompletedTask;
    };

    protected override Task<StartEvidence> StartedAsync(ParkedHelper helper) => BwrapSandbox.ReadStatusAsync(helper);
}
