using System.Text.Json;
using Warden.Core.Limits;
using Warden.Core.Sandboxing.Slots;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Gvisor;

/// <summary>One gVisor run per <see cref="RunAsync"/>: write the bundle, let the parked helper exec <c>runsc run</c>.</summary>
internal sealed class GvisorSandbox(GvisorBackend backend, SlotPool pool, SandboxSlot slot) : SlotSandbox(pool, slot)
{
    public override string WorkspacePath => SandboxSpecBuilder.DefaultWorkspace;

    public override async Task<ProcessOutcome> RunAsync(SandboxCommand command, ResourceLimits limits, CancellationToken cancellationToken)
    {
        await using var egress = await EgressFor(command, limits, cancellationToken).ConfigureAwait(false);
        var helper = await TakeHelperAsync().ConfigureAwait(false);
        var run = await backend.PrepareRunAsync(Slot, command, limits, cancellationToken, egress: egress?.Endpoint).ConfigureAwait(false);
        try
        {
            // gVisor does not enforce RLIMIT_CPU: watch the cgroup's CPU time instead.
            return await SlotRun.RunAsync(Slot, helper, run.Control, command, limits, GvisorBackend.CgroupLimits(limits, backend.Options),
                h => StartedAsync(h, run.PidFile), cancellationToken, watchCpuTime: true).ConfigureAwait(false);
        }
        finally
        {
            await backend.DeleteIfLeftAsync(run.ContainerId, Slot.Cgroup).ConfigureAwait(false);
        }
    }

    /// <summary>runsc writes the pid file once the container exists; without it, runsc failed before the program could start.</summary>
    internal static async Task<StartEvidence> StartedAsync(ParkedHelper helper, string pidFile)
    {
        await helper.Status.DisposeAsync().ConfigureAwait(false);
        await helper.Process.WaitForExitAsync().ConfigureAwait(false);
        return new StartEvidence(File.Exists(pidFile) && new FileInfo(pidFile).Length > 0, ExitCode: null);
    }

    internal static string Serialize(JsonElement element) => element.GetRawText();
}
