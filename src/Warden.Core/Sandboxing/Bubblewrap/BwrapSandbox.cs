using System.Text;
using System.Text.Json;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Core.Sandboxing.Slots;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Bubblewrap;

/// <summary>A bwrap sandbox on a leased slot. Each <see cref="RunAsync"/> consumes the slot's parked helper.</summary>
internal sealed class BwrapSandbox(BubblewrapBackend backend, SlotPool pool, SandboxSlot slot) : SlotSandbox(pool, slot)
{
    public override string WorkspacePath => SandboxSpecBuilder.DefaultWorkspace;

    public override async Task<ProcessOutcome> RunAsync(SandboxCommand command, ResourceLimits limits, CancellationToken cancellationToken)
    {
        // Egress: a namespace of this stage's own, served for the command's grant until the stage has ended.
        await using var egress = await EgressFor(command, limits, cancellationToken).ConfigureAwait(false);
        var helper = await TakeHelperAsync().ConfigureAwait(false);
        var control = backend.ControlFields(backend.Spec(Slot, limits, command, egress: egress?.Endpoint));
        return await SlotRun.RunAsync(Slot, helper, control, command, limits, limits, ReadStatusAsync, cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>bwrap's --json-status-fd: <c>{"child-pid": N}</c> once the program is started, then <c>{"exit-code": N}</c>.</summary>
    internal static async Task<StartEvidence> ReadStatusAsync(ParkedHelper helper)
    {
        var status = helper.Status;
        bool started = false;
        int? exitCode = null;
        try
        {
            using var reader = new StreamReader(status, Encoding.UTF8);
            var text = await reader.ReadToEndAsync().ConfigureAwait(false);
            // One JSON document per status; they may share a line.
            foreach (var doc in text.Replace("}{", "}\n{").Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                using var json = JsonDocument.Parse(doc);
                if (json.RootElement.TryGetProperty("child-pid", out _)) started = true;
                if (json.RootElement.TryGetProperty("exit-code", out var code)) exitCode = code.GetInt32();
            }
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
        }
        return new StartEvidence(started, exitCode);
    }
}
