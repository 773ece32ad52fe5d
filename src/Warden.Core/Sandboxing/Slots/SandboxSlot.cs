using Warden.Core.Cgroups;
using Warden.Core.Interop;
using Warden.Core.Sandboxing.Files;

namespace Warden.Core.Sandboxing.Slots;

/// <summary>
/// One concurrent sandbox's reusable host resources: a host uid no other slot uses, a cgroup, and a size-capped tmpfs
/// workspace. Between two executions the workspace is replaced by a fresh mount and the cgroup is emptied, so nothing
/// carries over; only the kernel objects are reused, which keeps their creation cost off the request path.
/// A dedicated slot may instead use a persistent workspace (a user's home): it is neither replaced nor removed.
/// </summary>
internal sealed class SandboxSlot(string name, int? uid, UidLease? uidLease, ICgroup? cgroup, string hostWorkspace, long workspaceBytes,
    bool persistentWorkspace = false, int? gid = null)
{
    private const ulong MS_NOSUID = 2, MS_NODEV = 4;

    /// <summary>"slot-N" for the execution pool, "session-ID" for a session's dedicated slot.</summary>
    public string Name { get; } = name;

    /// <summary>The host uid the sandbox runs as; null when the service is not root and cannot switch.</summary>
    public int? Uid { get; } = uid;

    /// <summary>The host gid the sandbox runs as: the uid's own, or a shared home's group (see <see cref="PersistentWorkspace.Gid"/>).</summary>
    public int? Gid { get; } = uid is null ? null : gid ?? uid;

    public ICgroup? Cgroup { get; } = cgroup;

    public string HostWorkspace { get; } = hostWorkspace;

    public ParkedHelper? Parked { get; set; }

    private bool UseMount => Uid is not null;

    /// <summary>Gives the slot an empty workspace: a new tmpfs (the old one, with whatever the program left, is detached).</summary>
    public void ResetWorkspace()
    {
        if (persistentWorkspace)
        {
            if (!Directory.Exists(HostWorkspace)) throw new IOException($"The persistent workspace {HostWorkspace} does not exist.");
        }
        else if (UseMount)
        {
            Libc.umount2(HostWorkspace, Libc.MNT_DETACH);
            Directory.CreateDirectory(HostWorkspace);
            var options = $"size={workspaceBytes},nr_inodes={Limits.ResourceLimits.InodesFor(workspaceBytes)},mode=0700,uid={Uid},gid={Uid}";
            if (Libc.mount("tmpfs", HostWorkspace, "tmpfs", MS_NOSUID | MS_NODEV, options) != 0)
                throw new IOException($"mount tmpfs on {HostWorkspace}: {Libc.ErrorText(Libc.LastError)}");
        }
        else
        {
            // A plain directory the sandbox (running as Warden's own user here) filled: emptied beneath-only, whatever
            // links, depth or names it holds.
            if (Directory.Exists(HostWorkspace))
            {
                using var tree = SandboxTree.Open(HostWorkspace);
                tree.DeleteContents();
            }
            Directory.CreateDirectory(HostWorkspace);
        }
    }

    public async Task DestroyAsync()
    {
        if (Parked is { } parked)
        {
            Parked = null;
            await parked.DisposeAsync().ConfigureAwait(false);
        }
        if (Cgroup is not null)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try { await Cgroup.KillAllAsync(timeout.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
            Cgroup.Delete();
        }
        if (!persistentWorkspace)
        {
            if (UseMount) Libc.umount2(HostWorkspace, Libc.MNT_DETACH);
            try
            {
                if (!UseMount && Directory.Exists(HostWorkspace))
                {
                    using var tree = SandboxTree.Open(HostWorkspace);
                    tree.DeleteContents();
                }
                Directory.Delete(HostWorkspace);
            }
            catch (IOException) { }
        }
        uidLease?.Dispose();
    }
}
