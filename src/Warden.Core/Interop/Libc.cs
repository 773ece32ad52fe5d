using System.Runtime.InteropServices;

namespace Warden.Core.Interop;

/// <summary>The POSIX calls .NET does not expose. Errors come back as -1 with errno (SetLastError).</summary>
internal static partial class Libc
{
    private const string Lib = "libc";

    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_RDWR = 2;
    public const int FIONREAD = 0x541B;
    public const int O_CLOEXEC = 0x80000;
    public const int ENOENT = 2;
    public const int EACCES = 13;
    public const int SIGKILL = 9;
    public const int SIGINT = 2;
    public const int EINTR = 4;
    public const int ECHILD = 10;
    public const int ESRCH = 3;
    public const int EBUSY = 16;
    public const int MNT_DETACH = 2;
    public const int LOCK_EX = 2;
    public const int LOCK_NB = 4;

    [LibraryImport(Lib, SetLastError = true)] public static partial uint geteuid();
    [LibraryImport(Lib, SetLastError = true)] public static partial int getpid();
    [LibraryImport(Lib, SetLastError = true)] public static unsafe partial int pipe2(int* fds, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial int close(int fd);
    [LibraryImport(Lib, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static unsafe partial nint pread(int fd, byte* buffer, nint count, long offset);
    [LibraryImport(Lib, SetLastError = true)] public static unsafe partial nint pwrite(int fd, byte* buffer, nint count, long offset);
    [LibraryImport(Lib, SetLastError = true)] public static partial int kill(int pid, int signal);
    [LibraryImport(Lib, SetLastError = true)] public static partial int waitpid(int pid, out int status, int options);
    [LibraryImport(Lib, SetLastError = true)] public static partial int epoll_create1(int flags);
    [LibraryImport(Lib, SetLastError = true)] public static unsafe partial int epoll_ctl(int epfd, int op, int fd, byte* ev);
    [LibraryImport(Lib, SetLastError = true)] public static unsafe partial int epoll_wait(int epfd, byte* events, int maxEvents, int timeout);
    [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true)] public static partial long syscall2(long number, long a, long b);
    [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true)] public static partial long syscall4(long number, long a, long b, long c, long d);

    public const int WNOHANG = 1;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const uint EPOLLIN = 1;
    public const long SYS_pidfd_open = 434; // the same number on every architecture (unified syscall table)
    public const long SYS_pidfd_send_signal = 424; // likewise
    [LibraryImport(Lib, SetLastError = true)] public static partial int flock(int fd, int operation);
    [LibraryImport(Lib, SetLastError = true)] public static partial int ioctl(int fd, nuint request, out int value);
    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] public static partial int mkfifo(string path, int mode);
    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] public static partial int chown(string path, int owner, int group);
    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] public static partial int lchown(string path, int owner, int group);
    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] public static partial int chmod(string path, int mode);
    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] public static partial int access(string path, int mode);
    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mount(string source, string target, string fstype, ulong flags, string? data);
    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] public static partial int umount2(string target, int flags);

    // posix_spawn: glibc implements it with clone(CLONE_VM|CLONE_VFORK), the cheapest way to start a process,
    // and file actions let us place pipes on fds 0-4 in the child without leaking them to anything else.
    [LibraryImport(Lib, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int posix_spawn(out int pid, string path, nint fileActions, nint attributes, nint argv, nint envp);
    [LibraryImport(Lib)] public static partial int posix_spawn_file_actions_init(nint actions);
    [LibraryImport(Lib)] public static partial int posix_spawn_file_actions_destroy(nint actions);
    [LibraryImport(Lib)] public static partial int posix_spawn_file_actions_adddup2(nint actions, int fd, int newFd);
    [LibraryImport(Lib)] public static partial int posix_spawnattr_init(nint attributes);
    [LibraryImport(Lib)] public static partial int posix_spawnattr_destroy(nint attributes);
    [LibraryImport(Lib)] public static partial int posix_spawnattr_setflags(nint attributes, short flags);
    [LibraryImport(Lib)] public static partial int posix_spawnattr_setsigdefault(nint attributes, nint signals);
    [LibraryImport(Lib)] public static partial int posix_spawnattr_setsigmask(nint attributes, nint signals);
    [LibraryImport(Lib)] public static partial int posix_spawnattr_setpgroup(nint attributes, int pgroup);
    [LibraryImport(Lib)] public static partial int sigemptyset(nint set);
    [LibraryImport(Lib)] public static partial int sigfillset(nint set);
    [LibraryImport(Lib)] public static partial int sigdelset(nint set, int signal);

    public const short POSIX_SPAWN_SETPGROUP = 0x02;
    public const short POSIX_SPAWN_SETSIGDEF = 0x04;
    public const short POSIX_SPAWN_SETSIGMASK = 0x08;

    public static int LastError => Marshal.GetLastPInvokeError();

    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
