using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Warden.Core.Interop;

namespace Warden.Core.Processes;

/// <summary>
/// Waits for every child on one thread: each child's pidfd (readable once it has exited) sits in one epoll set, and the
/// thread reaps whichever becomes ready. Watching a child costs two syscalls on the caller's thread, where starting a
/// waiting thread per child costs 0.5-4 ms on the request path (measured on the warm path).
/// </summary>
internal static class ChildReaper
{
    // epoll_event is packed on x86-64 (12 bytes: u32 events, u64 data) and naturally aligned elsewhere (16 bytes).
    private static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;
    private static readonly ConcurrentDictionary<int, ChildProcess> Watched = new();
    private static readonly Lazy<int> Epoll = new(Start);

    /// <summary>Registers the child; false when this kernel has no pidfds (the caller then waits by itself).</summary>
    public static unsafe bool TryWatch(ChildProcess child)
    {
        int epoll = Epoll.Value;
        if (epoll < 0) return false;
        int pidfd = (int)Libc.syscall2(Libc.SYS_pidfd_open, child.Pid, 0);
        if (pidfd < 0) return false;
        Watched[pidfd] = child;
        byte* ev = stackalloc byte[16];
        *(uint*)ev = Libc.EPOLLIN;
        *(ulong*)(ev + DataOffset) = (ulong)pidfd;
        if (Libc.epoll_ctl(epoll, Libc.EPOLL_CTL_ADD, pidfd, ev) == 0) return true;
        Watched.TryRemove(pidfd, out _);
        Libc.close(pidfd);
        return false;
    }

    private static int Start()
    {
        int epoll = Libc.epoll_create1(Libc.O_CLOEXEC);
        if (epoll < 0) return -1;
        var thread = new Thread(() => Loop(epoll)) { IsBackground = true, Name = "child reaper" };
        thread.UnsafeStart();
        return epoll;
    }

    private static unsafe void Loop(int epoll)
    {
        const int max = 64;
        byte* events = stackalloc byte[max * 16];
        while (true)
        {
            int n = Libc.epoll_wait(epoll, events, max, -1);
            if (n < 0) continue; // EINTR
            for (int i = 0; i < n; i++)
            {
                int pidfd = (int)*(ulong*)(events + i * EventSize + DataOffset);
                if (!Watched.TryRemove(pidfd, out var child)) continue;
                Libc.epoll_ctl(epoll, Libc.EPOLL_CTL_DEL, pidfd, null);
                Libc.close(pidfd);
                Reap(child);
            }
        }
    }

    /// <summary>The pidfd is readable only once the child has exited, so waitpid does not block here.</summary>
    private static void Reap(ChildProcess child)
    {
        while (true)
        {
            int r = Libc.waitpid(child.Pid, out int status, 0);
            if (r == child.Pid) { child.Complete(status); return; }
            int errno = Libc.LastError;
            if (r < 0 && errno == Libc.EINTR) continue;
            child.Fail($"waitpid({child.Pid}) failed: {Libc.ErrorText(errno)}");
            return;
        }
    }
}
