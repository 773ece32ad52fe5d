using System.Runtime.InteropServices;

namespace Warden.Core.Interop;

/// <summary>
/// Descriptor-relative file calls, statx, loop-device ioctls and mknod, for users' home filesystems. Host code that walks
/// a tree a sandbox wrote goes through these (openat with O_NOFOLLOW from a directory descriptor, never a path), so a
/// link planted in the tree is never followed. Errors come back as -1 with errno (SetLastError).
/// </summary>
internal static unsafe partial class StorageCalls
{
    private const string Lib = "libc";

    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80, O_NOCTTY = 0x100, O_NONBLOCK = 0x800;
    public const int O_CLOEXEC = 0x80000;
    // x86-64 has its own values for these two; every other 64-bit Linux architecture uses asm-generic's.
    public static readonly int O_DIRECTORY = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 0x10000 : 0x4000;
    public static readonly int O_NOFOLLOW = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 0x20000 : 0x8000;

    public const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_REMOVEDIR = 0x200, AT_EMPTY_PATH = 0x1000;
    public const uint STATX_BASIC_STATS = 0x7ff;
    public const int S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFREG = 0x8000, S_IFLNK = 0xA000, S_IFBLK = 0x6000;
    public const int SEEK_SET = 0, SEEK_CUR = 1;

    public const int ENOENT = 2, EINTR = 4, ENXIO = 6, EAGAIN = 11, EBUSY = 16, EEXIST = 17, ENOTDIR = 20, EINVAL = 22, ENOSPC = 28;
    public const int ELOOP = 40, EDQUOT = 122;

    public const long UTIME_OMIT = (1L << 30) - 2;

    // linux/loop.h
    public const nuint LOOP_CLR_FD = 0x4C01, LOOP_GET_STATUS64 = 0x4C05, LOOP_CONFIGURE = 0x4C0A, LOOP_CTL_GET_FREE = 0x4C82;
    public const uint LO_FLAGS_READ_ONLY = 1, LO_FLAGS_AUTOCLEAR = 4, LO_FLAGS_DIRECT_IO = 16;

    [LibraryImport(Lib, SetLastError = true)] public static partial int openat(int dirfd, byte* path, int flags, uint mode);
    [LibraryImport(Lib, SetLastError = true)] public static partial int mkdirat(int dirfd, byte* path, uint mode);
    [LibraryImport(Lib, SetLastError = true)] public static partial int symlinkat(byte* target, int dirfd, byte* path);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint readlinkat(int dirfd, byte* path, byte* buffer, nint size);
    [LibraryImport(Lib, SetLastError = true)] public static partial int linkat(int olddirfd, byte* oldpath, int newdirfd, byte* newpath, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial int unlinkat(int dirfd, byte* path, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial int fchown(int fd, int owner, int group);
    [LibraryImport(Lib, SetLastError = true)] public static partial int fchownat(int dirfd, byte* path, int owner, int group, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial int fchmod(int fd, uint mode);
    [LibraryImport(Lib, SetLastError = true)] public static partial int futimens(int fd, Timespec* times);
    [LibraryImport(Lib, SetLastError = true)] public static partial int utimensat(int dirfd, byte* path, Timespec* times, int flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial int statx(int dirfd, byte* path, int flags, uint mask, Statx* buffer);
    [LibraryImport(Lib, SetLastError = true)] public static partial int fstatfs(int fd, Statfs* buffer);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint getdents64(int fd, byte* buffer, nint count);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint read(int fd, byte* buffer, nint count);
    [LibraryImport(Lib, SetLastError = true)] public static partial nint write(int fd, byte* buffer, nint count);
    [LibraryImport(Lib, SetLastError = true)] public static partial long lseek(int fd, long offset, int whence);
    [LibraryImport(Lib, SetLastError = true)] public static partial int ftruncate(int fd, long length);
    [LibraryImport(Lib, SetLastError = true)] public static partial int fsync(int fd);
    [LibraryImport(Lib, SetLastError = true)] public static partial int ioctl(int fd, nuint request, nint argument);
    [LibraryImport(Lib, SetLastError = true)] public static partial int mknodat(int dirfd, byte* path, uint mode, ulong device);

    /// <summary>glibc's makedev.</summary>
    public static ulong MakeDevice(uint major, uint minor) =>
        ((ulong)(major & 0xfffff000) << 32) | ((ulong)(major & 0xfff) << 8) | ((ulong)(minor & 0xffffff00) << 12) | (minor & 0xff);

    /// <summary>The kernel's 32-bit device encoding (new_encode_dev), as loop_info64 reports the backing file's device.</summary>
    public static ulong EncodeDevice(uint major, uint minor) => (minor & 0xff) | (major << 8) | ((ulong)(minor & ~0xffu) << 12);

    /// <summary>A NUL-terminated copy of <paramref name="text"/> for the calls above.</summary>
    public static byte[] Z(string text)
    {
        var bytes = new byte[System.Text.Encoding.UTF8.GetByteCount(text) + 1];
        System.Text.Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }
}

[StructLayout(LayoutKind.Sequential)]
internal struct Timespec
{
    public long Seconds;
    public long Nanoseconds;
}

/// <summary>struct statx: the same layout on every architecture (unlike struct stat); the one definition host file code uses.</summary>
[StructLayout(LayoutKind.Explicit, Size = 256)]
internal struct Statx
{
    [FieldOffset(0)] public uint Mask;
    [FieldOffset(16)] public uint Nlink;
    [FieldOffset(20)] public uint Uid;
    [FieldOffset(24)] public uint Gid;
    [FieldOffset(28)] public ushort Mode;
    [FieldOffset(32)] public ulong Ino;
    [FieldOffset(40)] public ulong Size;
    [FieldOffset(48)] public ulong Blocks;
    [FieldOffset(64)] public long AtimeSeconds;
    [FieldOffset(72)] public uint AtimeNanoseconds;
    [FieldOffset(112)] public long MtimeSeconds;
    [FieldOffset(120)] public uint MtimeNanoseconds;
    [FieldOffset(136)] public uint DevMajor;
    [FieldOffset(140)] public uint DevMinor;

    public readonly int Type => Mode & StorageCalls.S_IFMT;
}

/// <summary>struct statfs of 64-bit Linux (x86-64 and asm-generic agree).</summary>
[StructLayout(LayoutKind.Sequential, Size = 120)]
internal struct Statfs
{
    public long Type;
    public long BlockSize;
    public ulong Blocks;
    public ulong FreeBlocks;
    public ulong AvailableBlocks;
    public ulong Files;
    public ulong FreeFiles;
}

/// <summary>struct loop_config (LOOP_CONFIGURE, Linux 5.8+) with its struct loop_info64.</summary>
[StructLayout(LayoutKind.Explicit, Size = 304)]
internal unsafe struct LoopConfig
{
    [FieldOffset(0)] public uint Fd;
    [FieldOffset(4)] public uint BlockSize;
    [FieldOffset(8)] public LoopInfo64 Info;
}

[StructLayout(LayoutKind.Explicit, Size = 232)]
internal unsafe struct LoopInfo64
{
    [FieldOffset(0)] public ulong Device;
    [FieldOffset(8)] public ulong Inode;
    [FieldOffset(52)] public uint Flags;
    [FieldOffset(56)] public fixed byte FileName[64];
}
