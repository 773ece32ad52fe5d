using Warden.Core.Limits;
using Warden.Core.Pool;
using Warden.Core.Sandboxing.Slots;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Gvisor;

/// <summary>
/// A gVisor sandbox started ahead of its request: runsc has booted the Sentry with the language stub as the container's
/// process. After its one run the container's record is deleted along with the slot's recycling.
/// </summary>
internal sealed class GvisorWarmSandbox(GvisorBackend backend, SlotPool pool, SandboxSlot slot, ParkedHelper helper, WarmRecipe recipe,
    GvisorRun run) : SlotWarmSandbox(pool, slot, helper, recipe)
{
    public override string WorkspacePath => SandboxSpecBuilder.DefaultWorkspace;

    protected override ResourceLimits CgroupLimits(ResourceLimits limits) => GvisorBackend.CgroupLimits(limits, backend.Options);

    // As on the cold path, gVisor ignores RLIMIT_CPU.
    protected override bool WatchCpuTime => true;

    protected override Task<StartEvidence> StartedAsync(ParkedHelper helper) => GvisorSandbox.StartedAsync(helper, run.PidFile);

    protected override Task<int?>? ReadExitReport() => run.Report?.ReadAsync();

    // runsc's teardown takes ~10 ms when idle but seconds with every CPU busy (16 sandboxes on 2 CPUs), and killing it
    // midway leaves its state to `runsc delete`: the grace is for that, not for a program that outlives its report.
    protected override TimeSpan TeardownGrace => TimeSpan.FromSeconds(10);

    // runsc leaves a killed container's record behind.
    protected override Func<Task>? Cleanup => () =>
    {
        run.Report?.Dispose();
        return backend.DeleteIfLeftAsync(run.ContainerId, Slot.Cgroup);
    };
}
