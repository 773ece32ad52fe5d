using System.Runtime.InteropServices;
using Warden.Core.Interop;

namespace Warden.Core.Processes;

/// <summary>
/// A child started with posix_spawn. Its exit is collected by <see cref="ChildReaper"/>'s one thread (pidfd + epoll),
/// or where pidfds are missing by a thread of its own blocked in waitpid (a thread-pool thread must not block).
/// .NET's own SIGCHLD handling only reaps children it started itself.
/// </summary>
internal sealed class ChildProcess
{
    private readonly TaskCompletionSource<int> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _waiting;

    public ChildProcess(int pid) => Pid = pid;

    public int Pid { get; }

    public bool HasExited => _exit.Task.IsCompleted;

    /// <summary>The raw wait status: decode with <see cref="WaitStatus"/>.</summary>
    public Task<int> WaitForExitAsync()
    {
        if (Interlocked.Exchange(ref _waiting, 1) == 0 && !ChildReaper.TryWatch(this))
        {
            // Starting a thread costs 0.5-4 ms (Thread.Start waits until it runs): the fallback only.
            var thread = new Thread(Reap) { IsBackground = true, Name = $"reap {Pid}" };
            thread.UnsafeStart();
        }
        return _exit.Task;
    }

    public void Kill()
    {
        if (!HasExited) Libc.kill(Pid, Libc.SIGKILL);
    }

    /// <summary>Called by <see cref="ChildReaper"/> once it has reaped this child.</summary>
    internal void Complete(int status) => _exit.TrySetResult(status);

    internal void Fail(string reason) => _exit.TrySetException(new InvalidOperationException(reason));

    private void Reap()
    {
        while (true)
        {
            int r = Libc.waitpid(Pid, out int status, 0);
            if (r == Pid) { _exit.TrySetResult(status); return; }
            int errno = Libc.LastError;
            if (r < 0 && errno == Libc.EINTR) continue;
            _exit.TrySetException(new InvalidOperationException($"waitpid({Pid}) failed: {Libc.ErrorText(errno)}"));
            return;
        }
    }
}

/// <summary>Decoding of a waitpid status word.</summary>
internal static class WaitStatus
{
    public static bool Exited(int status) => (status & 0x7f) == 0;
    public static int ExitCode(int status) => (status >> 8) & 0xff;
    public static int TermSignal(int status) => status & 0x7f;
}
