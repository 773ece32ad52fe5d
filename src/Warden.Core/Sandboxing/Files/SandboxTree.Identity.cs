using Warden.Core.Interop;

namespace Warden.Core.Sandboxing.Files;

internal sealed partial class SandboxTree
{
    /// <summary>
    /// Opens the tree at <paramref name="hostDirectory"/> and runs <paramref name="work"/> on it on a thread of its own
    /// whose filesystem identity is the sandbox's user (<paramref name="uid"/>, its own group, no supplementary groups):
    /// the kernel then checks every open as it would for the sandbox itself, so even a file the beneath-only walk
    /// reached by some unforeseen way (a hard link, a bind mount) is read only if the sandbox could read it anyway.
    /// Without a uid (Warden not running as root) the sandbox runs as Warden's own user and the work runs as is.
    /// </summary>
    /// <remarks>
    /// fsuid, fsgid and the group list are per-thread kernel credentials, and only raw syscalls (and glibc's setfsuid and
    /// setfsgid, which are plain ones) change them for the calling thread alone; glibc's setgroups changes every thread.
    /// The thread is Warden's own (never a pool thread) and restores its identity before it ends.
    /// </remarks>
    public static Task<T> RunAsync<T>(string hostDirectory, int? uid, Func<SandboxTree, T> work, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                cancellationToken.ThrowIfCancellationRequested();
                // The root is Warden's path (the run directory may not be searchable by the sandbox's user): opened as ourselves.
                using var tree = Open(hostDirectory);
                done.TrySetResult(uid is int u ? AsUser(u, () => work(tree)) : work(tree));
            }
            catch (Exception e)
            {
                done.TrySetException(e);
            }
        })
        {
            IsBackground = true,
            Name = "warden-sandbox-tree",
        };
        thread.Start();
        return done.Task;
    }

    private static unsafe T AsUser<T>(int uid, Func<T> work)
    {
        int count = Libc.getgroups(0, null);
        var groups = new uint[Math.Max(count, 0)];
        fixed (uint* g = groups)
        {
            if (count < 0 || Libc.getgroups(groups.Length, g) < 0) throw new IOException($"getgroups: {Libc.ErrorText(Libc.LastError)}");
        }
        int previousUid = Libc.setfsuid(-1), previousGid = Libc.setfsgid(-1);
        if (Libc.syscall_setgroups(Libc.SYS_setgroups, 0, null) != 0) throw new IOException($"setgroups: {Libc.ErrorText(Libc.LastError)}");
        try
        {
            Libc.setfsgid(uid);
            Libc.setfsuid(uid);
            // setfsuid reports the old value, never an error: read both back (an invalid id changes nothing and returns the current one).
            if (Libc.setfsuid(-1) != uid || Libc.setfsgid(-1) != uid) throw new IOException($"Could not take the filesystem identity of uid {uid}.");
            return work();
        }
        finally
        {
            Libc.setfsuid(previousUid);
            Libc.setfsgid(previousGid);
            fixed (uint* g = groups) Libc.syscall_setgroups(Libc.SYS_setgroups, groups.Length, g);
        }
    }
}
