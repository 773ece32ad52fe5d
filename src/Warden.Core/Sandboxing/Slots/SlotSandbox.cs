using System.Text;
using Warden.Core.Execution;
using Warden.Core.Limits;

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

    /// <summary>The slot's parked helper, or a freshly parked one for a second run (compile, then run).</summary>
    protected async Task<ParkedHelper> TakeHelperAsync()
    {
        var helper = slot.Parked ?? await pool.ParkAsync(slot).ConfigureAwait(false);
        slot.Parked = null;
        return helper;
    }

    public ValueTask WriteFilesAsync(IEnumerable<SourceFile> files, CancellationToken cancellationToken)
    {
        foreach (var file in files)
        {
            var relative = WorkspacePaths.Validate(file.Name);
            var hostPath = Path.Combine(slot.HostWorkspace, relative);
            var directory = Path.GetDirectoryName(hostPath)!;
            if (!Directory.Exists(directory))
            {
                Directory.CreateDirectory(directory);
                for (var d = directory; d.Length > slot.HostWorkspace.Length; d = Path.GetDirectoryName(d)!) Own(d);
            }
            File.WriteAllText(hostPath, file.Content, new UTF8Encoding(false));
            Own(hostPath);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask<(IReadOnlyList<OutputFile> Files, bool Truncated)> CollectFilesAsync(IReadOnlyDictionary<string, string> inputs,
        int maxFiles, long maxBytes, CancellationToken cancellationToken) =>
        ValueTask.FromResult(WorkspaceFiles.Collect(slot.HostWorkspace, inputs, maxFiles, maxBytes));

    private void Own(string path)
    {
        if (slot.Uid is int uid) Interop.Libc.lchown(path, uid, uid);
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
