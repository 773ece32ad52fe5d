using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Warden.Core.Interop;

namespace Warden.Core.Processes;

/// <summary>
/// Starts processes from one long-lived thread. Sandboxes rely on PR_SET_PDEATHSIG (bwrap --die-with-parent),
/// which fires when the *thread* that forked them exits; a thread-pool thread may retire at any time and would
/// take every sandbox it started with it. This thread lives as long as the process.
/// </summary>
internal static class Spawner
{
    private static readonly BlockingCollection<Work> Queue = new();

    static Spawner()
    {
        var thread = new Thread(Loop) { IsBackground = true, Name = "warden-spawner" };
        thread.UnsafeStart();
    }

    /// <summary>Starts <paramref name="argv"/> with an empty environment; child fd i = <paramref name="fds"/>[i].</summary>
    public static Task<ChildProcess> SpawnAsync(IReadOnlyList<string> argv, IReadOnlyList<int> fds)
    {
        var work = new Work(argv, fds, new TaskCompletionSource<ChildProcess>(TaskCreationOptions.RunContinuationsAsynchronously));
        Queue.Add(work);
        return work.Result.Task;
    }

    private static void Loop()
    {
        foreach (var work in Queue.GetConsumingEnumerable())
        {
            try { work.Result.TrySetResult(new ChildProcess(Spawn(work.Argv, work.Fds))); }
            catch (Exception e) { work.Result.TrySetException(e); }
        }
    }

    private static unsafe int Spawn(IReadOnlyList<string> argv, IReadOnlyList<int> fds)
    {
        // glibc's posix_spawn_file_actions_t is 80 bytes, posix_spawnattr_t 336, sigset_t 128: over-allocate.
        nint actions = Marshal.AllocHGlobal(512), attributes = Marshal.AllocHGlobal(1024), signals = Marshal.AllocHGlobal(256);
        var strings = new nint[argv.Count];
        nint argvBlock = Marshal.AllocHGlobal((argv.Count + 1) * IntPtr.Size);
        nint envBlock = Marshal.AllocHGlobal(IntPtr.Size);
        try
        {
            for (int i = 0; i < argv.Count; i++)
            {
                strings[i] = Marshal.StringToCoTaskMemUTF8(argv[i]);
                Marshal.WriteIntPtr(argvBlock, i * IntPtr.Size, strings[i]);
            }
            Marshal.WriteIntPtr(argvBlock, argv.Count * IntPtr.Size, 0);
            Marshal.WriteIntPtr(envBlock, 0, 0);

            Check(Libc.posix_spawn_file_actions_init(actions), "file_actions_init");
            for (int i = 0; i < fds.Count; i++) Check(Libc.posix_spawn_file_actions_adddup2(actions, fds[i], i), "adddup2");

            Check(Libc.posix_spawnattr_init(attributes), "spawnattr_init");
            // .NET ignores SIGPIPE and may block signals; ignored dispositions survive exec, so reset them all:
            // a sandboxed `yes | head` must die of SIGPIPE as it would anywhere else.
            _ = Libc.sigfillset(signals);
            _ = Libc.sigdelset(signals, Libc.SIGKILL);
            _ = Libc.sigdelset(signals, 19); // SIGSTOP cannot be reset either
            Check(Libc.posix_spawnattr_setsigdefault(attributes, signals), "setsigdefault");
            _ = Libc.sigemptyset(signals);
            Check(Libc.posix_spawnattr_setsigmask(attributes, signals), "setsigmask");
            Check(Libc.posix_spawnattr_setpgroup(attributes, 0), "setpgroup");
            Check(Libc.posix_spawnattr_setflags(attributes,
                Libc.POSIX_SPAWN_SETSIGDEF | Libc.POSIX_SPAWN_SETSIGMASK | Libc.POSIX_SPAWN_SETPGROUP), "setflags");

            int error = Libc.posix_spawn(out int pid, argv[0], actions, attributes, argvBlock, envBlock);
            if (error != 0) throw new IOException($"posix_spawn {argv[0]}: {Libc.ErrorText(error)}");
            return pid;
        }
        finally
        {
            _ = Libc.posix_spawn_file_actions_destroy(actions);
            _ = Libc.posix_spawnattr_destroy(attributes);
            foreach (var s in strings) if (s != 0) Marshal.FreeCoTaskMem(s);
            Marshal.FreeHGlobal(argvBlock);
            Marshal.FreeHGlobal(envBlock);
            Marshal.FreeHGlobal(actions);
            Marshal.FreeHGlobal(attributes);
            Marshal.FreeHGlobal(signals);
        }
    }

    private static void Check(int error, string what)
    {
        if (error != 0) throw new IOException($"posix_spawn {what}: {Libc.ErrorText(error)}");
    }

    private sealed record Work(IReadOnlyList<string> Argv, IReadOnlyList<int> Fds, TaskCompletionSource<ChildProcess> Result);
}
