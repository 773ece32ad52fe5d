using System.Runtime.InteropServices;

namespace Warden.Core.Interop;

/// <summary>
/// The *at calls <see cref="Sandboxing.Files.SandboxTree"/> walks with: everything relative to a directory descriptor,
/// names as raw bytes (a sandbox's names need not be UTF-8), types and sizes from <c>statx</c> on the open descriptor.
/// </summary>
internal static partial class Libc
{
    private static readonly bool Arm64 = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;

    public const int O_NONBLOCK = 0x800;
    public const int O_CREAT = 0x40;
    public const int O_EXCL = 0x80;
    public const int O_NOCTTY = 0x100;

    // Two of the few open flags whose values differ between x86-64 and arm64.
    public static readonly int O_DIRECTORY = Arm64 ? 0x4000 : 0x10000;
    public static readonly int O_NOFOLLOW = Arm64 ? 0x8000 : 0x20000;

    public const ulong RESOLVE_NO_XDEV = 0x01;
    public const ulong RESOLVE_NO_MAGICLINKS = 0x02;
    public const ulong RESOLVE_NO_SYMLINKS = 0x04;
    public const ulong RESOLVE_BENEATH = 0x08;

    public const long SYS_openat2 = 437; // the unified syscall table: the same number everywhere

    // setgroups must be the raw syscall: glibc's wrapper changes every thread of the process, and only the calling
    // thread may lose its groups. (setfsuid and setfsgid are per-thread in glibc already.)
    public static readonly long SYS_setgroups = Arm64 ? 159 : 116;

    public const int AT_EMPTY_PATH = 0x1000;
    public const int AT_SYMLINK_NOFOLLOW = 0x100;
    public const int AT_REMOVEDIR = 0x200;
    public const int EEXIST = 17;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;
    public const int ELOOP = 40;
    public const int ENOSYS = 38;
    public const int EPERM = 1;
    public const int EXDEV = 18;
    public const int ENXIO = 6;
    public const int EAGAIN = 11;
    public const int ENAMETOOLONG = 36;
    public const int ENOTEMPTY = 39;
    public const uint RENAME_NOREPLACE = 1;

    public const uint STATX_BASIC_STATS = 0x7ff;

    [StructLayout(LayoutKind.Sequential)]
    public struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    public const int S_IFMT = 0xF000;
    public const int S_IFREG = 0x8000;
    public const int S_IFDIR = 0x4000;
    public const int S_IFLNK = 0xA000;
    public const int S_IFIFO = 0x1000;
    public const int S_IFSOCK = 0xC000;
    public const int S_IFCHR = 0x2000;
    public const int S_IFBLK = 0x6000;

    public const byte DT_UNKNOWN = 0, DT_FIFO = 1, DT_CHR = 2, DT_DIR = 4, DT_BLK = 6, DT_REG = 8, DT_LNK = 10, DT_SOCK = 12;

    [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true)]
    public static unsafe partial long syscall_openat2(long number, long dirfd, byte* path, OpenHow* how, long size);

    [LibraryImport(Lib, EntryPoint = "syscall", SetLastError = true)]
    public static unsafe partial long syscall_setgroups(long number, long size, uint* list);

    [LibraryImport(Lib, SetLastError = true)] public static unsafe partial int openat(int dirfd, byte* path, int flags, int mode);
    [LibraryImport(Lib, SetLastError = true)] public static unsafe partial nint getdents64(int fd, byte* buffer, nint length);
    [LibraryImport(Lib, SetLastError = true)] public static unsafe partial int mkdirat(int dirfd, byte* path, int mode);
    [LibraryImport(Lib, SetLastError = true)] public static unsafe partial int unlinkat(int dirfd, byte* path, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static unsafe partial int renameat2(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, uint flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial long lseek(int fd, long offset, int whence);
    [LibraryImport(Lib, SetLastError = true)] public static partial int fchown(int fd, int owner, int group);
    [LibraryImport(Lib, SetLastError = true)] public static unsafe partial nint read(int fd, byte* buffer, nint count);
    [LibraryImport(Lib, SetLastError = true)] public static unsafe partial nint write(int fd, byte* buffer, nint count);
    [LibraryImport(Lib, SetLastError = true)] public static partial int setfsuid(int uid);
    [LibraryImport(Lib, SetLastError = true)] public static partial int setfsgid(int gid);
    [LibraryImport(Lib, SetLastError = true)] public static unsafe partial int getgroups(int size, uint* list);
}
