using Warden.Core.Sandboxing.Slots;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Bubblewrap;

/// <summary>Long-lived session sandboxes: each gets a slot created for it and destroyed with it.</summary>
public sealed partial class BubblewrapBackend
{
    private readonly HashSet<BwrapSessionSandbox> _sessions = [];

    public async ValueTask<ISessionSandbox> StartSessionAsync(SessionSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        EnsureStarted();
        var support = new List<ReadOnlyBind>();
        if (spec.SupportFiles.Count > 0) support.Add(new ReadOnlyBind(SessionSupportFiles.Directory(_pool.RunDirectory, spec.SupportFiles), spec.SupportDirectory));

        var slot = _pool.CreateSlot("session-" + spec.Name, spec.Workspace);
        BwrapSessionSandbox? sandbox = null;
        Networking.EgressAttachment? egress = null;
        try
        {
            // Egress: a namespace of the sandbox's own, served for its grant until the sandbox is destroyed.
            egress = await Networking.EgressAttachment.ForSessionAsync(spec, cancellationToken).ConfigureAwait(false);
            slot.ResetWorkspace();
            slot.Cgroup?.Apply(spec.Limits);
            var helper = await _pool.ParkAsync(slot).ConfigureAwait(false);
            sandbox = new BwrapSessionSandbox(this, slot, helper) { Egress = egress };
            egress = null;
            lock (_sessions) _sessions.Add(sandbox);
            var sandboxSpec = Spec(slot, spec.Limits, spec.Command, support, spec.Workspace?.SandboxPath ?? SandboxSpecBuilder.DefaultWorkspace,
                egress: sandbox.Egress?.Endpoint);
            await helper.LaunchAsync(SlotRun.Encode(ControlFields(sandboxSpec))).ConfigureAwait(false);
            return sandbox;
        }
        catch
        {
            // Never leave a half-built sandbox: the session sandbox owns the slot once it exists.
            if (sandbox is not null) await sandbox.DisposeAsync().ConfigureAwait(false);
            else await slot.DestroyAsync().ConfigureAwait(false);
            if (egress is not null) await egress.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    internal void ForgetSession(BwrapSessionSandbox sandbox)
    {
        lock (_sessions) _sessions.Remove(sandbox);
    }

    /// <summary>Session sandboxes still alive at shutdown: destroyed before the instance's cgroups and run directory.</summary>
    private async Task DisposeSessionsAsync()
    {
        BwrapSessionSandbox[] alive;
        lock (_sessions) alive = [.. _sessions];
        foreach (var sandbox in alive) await sandbox.DisposeAsync().ConfigureAwait(false);
    }
}
