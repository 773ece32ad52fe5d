using System.Runtime.InteropServices;
using Warden.Core.Interop;

namespace Warden.Core.Processes;

/// <summary>
/// A child started with posix_spawn. The exit is collected by <see cref="WaitForExitAsync"/> on a dedicated thread
/// (waitpid blocks; a thread-pool thread must not). .NET's own SIGCHLD handling only reaps children it started itself.
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
        if (Interlocked.Exchange(ref _waiting, 1) == 0)
        {
            var thread = new Thread(Reap) { IsBackground = true, Name = $"reap {Pid}" };
            thread.UnsafeStart();
        }
        return _exit.Task;
    }

    public void Kill()
    {
        if (!HasExited) Libc.kill(Pid, Libc.SIGKILL);
    }

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
