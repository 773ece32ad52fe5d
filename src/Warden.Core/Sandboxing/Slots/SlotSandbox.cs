using System.Text;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Core.Sandboxing.Files;

namespace Warden.Core.Sandboxing.Slots;

/// <summary>
/// A sandbox on a leased slot: the workspace and lifetime handling every slot-based backend shares. Disposing returns
/// the slot to the pool, which empties its cgroup, replaces its workspace and parks a fresh helper.
/// </summary>
internal abstract class SlotSandbox(SlotPool pool, SandboxSlot slot) : ISandbox
{
    private int _disposed;

    protected SandboxSlot Slot => slot;

    protected SlotPool Pool => pool;

    public abstract string WorkspacePath { get; }

    public abstract Task<ProcessOutcome> RunAsync(SandboxCommand command, ResourceLimits limits, CancellationToken cancellationToken);

    /// <summary>
    /// A stage's egress network when <paramref name="limits"/> grant network: a fresh namespace (the helper joins it
    /// through netns=) served for the command's grant; null without network. A grant without its proxy is refused.
    /// </summary>
    protected static async Task<Networking.EgressAttachment?> EgressFor(SandboxCommand command, ResourceLimits limits, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(limits);
        if (!limits.Network) return null;
        var egress = command.Egress ?? throw new InvalidOperationException("A command granted network needs its egress grant.");
        return await Networking.EgressAttachment.CreateAsync(egress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The slot's parked helper, or a freshly parked one for a second run (compile, then run).</summary>
    protected async Task<ParkedHelper> TakeHelperAsync()
    {
        var helper = slot.Parked ?? await pool.ParkAsync(slot).ConfigureAwait(false);
        slot.Parked = null;
        return helper;
    }

    /// <summary>
    /// Places the request's files, owned by the slot's uid. No program has run in the workspace yet (a warm sandbox's
    /// stub is Warden's own and waits), but the writes still go through <see cref="SandboxTree"/>'s beneath-only,
    /// never-following opens, as every host-side touch of a sandbox's files does.
    /// </summary>
    public ValueTask WriteFilesAsync(IEnumerable<SourceFile> files, CancellationToken cancellationToken)
    {
        using var tree = SandboxTree.Open(slot.HostWorkspace);
        foreach (var file in files) tree.WriteFile(WorkspacePaths.Validate(file.Name), Utf8.GetBytes(file.Content), slot.Uid);
        return ValueTask.CompletedTask;
    }

    private static readonly UTF8Encoding Utf8 = new(false);

    public async ValueTask<CollectedFiles> CollectFilesAsync(IReadOnlyDictionary<string, string> inputs, int maxFiles, long maxBytes,
        CancellationToken cancellationToken)
    {
        // Nothing of the sandbox may run while its files are read: a program can end its run with its own exit report
        // and leave a child behind that keeps swapping files for links. Reading goes beneath-only and as the slot's uid
        // anyway; a dead sandbox makes what is collected also the state the program left.
        await StopAsync().ConfigureAwait(false);
        return await SandboxTree.RunAsync(slot.HostWorkspace, slot.Uid, tree => WorkspaceFiles.Collect(tree, inputs, maxFiles, maxBytes, cancellationToken),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Makes sure no process of the sandbox is left. After a cold run the tool has exited and the run swept the cgroup,
    /// so this is one read of cgroup.procs; without cgroups the tool's exit took its pid namespace with it.
    /// </summary>
    protected virtual async Task StopAsync()
    {
        if (slot.Cgroup is { } cgroup && !cgroup.IsEmpty()) await cgroup.KillAllAsync(CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>
    /// Hands the slot back for recycling without waiting for it: the caller's result does not depend on the next
    /// helper being parked (about 1 ms at p50, 4 ms at p95 under load). The pool tracks the recycling for shutdown.
    /// </summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) Release();
        return ValueTask.CompletedTask;
    }

    /// <summary>Starts the slot's recycling; a warm sandbox's slot goes back to the warm slots instead.</summary>
    protected virtual void Release() => pool.Recycle(slot);
}
