using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Warden.Core.State;

/// <summary>
/// Owner, type and permission bits of a file, from <c>statx</c> (its layout is the same on every architecture, unlike
/// <c>struct stat</c>), and the open flags that differ between architectures. .NET exposes neither a file's owner nor
/// <c>O_NOFOLLOW</c>/<c>O_DIRECTORY</c>.
/// </summary>
internal static partial class FileStatus
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxType = 0x1, StatxMode = 0x2, StatxUid = 0x8;

    public const int O_CREAT = 0x40;
    public const int O_NONBLOCK = 0x800;
    public const int O_NOFOLLOW_X64 = 0x20000, O_DIRECTORY_X64 = 0x10000;

    /// <summary><c>O_NOFOLLOW</c>: 0400000 on x86, 0100000 on arm and arm64.</summary>
    public static int O_NOFOLLOW => IsArm ? 0x8000 : O_NOFOLLOW_X64;

    /// <summary><c>O_DIRECTORY</c>: 0200000 on x86, 040000 on arm and arm64.</summary>
    public static int O_DIRECTORY => IsArm ? 0x4000 : O_DIRECTORY_X64;

    private static bool IsArm => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm;

    /// <summary>What <c>lstat</c> says about <paramref name="path"/> (a link is not followed); null when it does not exist.</summary>
    public static Status? OfPath(string path)
    {
        var buffer = new byte[256];
        if (statx(AtFdCwd, path, AtSymlinkNoFollow, StatxType | StatxMode | StatxUid, buffer) == 0) return Read(buffer);
        int errno = Marshal.GetLastPInvokeError();
        if (errno is 2 or 20) return null; // ENOENT, ENOTDIR
        throw new IOException($"stat {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
    }

    /// <summary>What <c>fstat</c> says about an open descriptor.</summary>
    public static Status OfHandle(SafeHandle handle, string pathForErrors)
    {
        ArgumentNullException.ThrowIfNull(handle);
        var buffer = new byte[256];
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            if (statx((int)handle.DangerousGetHandle(), "", AtEmptyPath, StatxType | StatxMode | StatxUid, buffer) != 0)
                throw new IOException($"stat {pathForErrors}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
        return Read(buffer);
    }

    /// <summary>Opens <paramref name="path"/> without following a final symbolic link (ELOOP when it is one).</summary>
    /// <param name="mode">Permission bits when the file is created (the umask still removes some: fix them afterwards).</param>
    public static SafeFileHandle Open(string path, int flags, int mode = 0)
    {
        int fd = open(path, flags | O_NOFOLLOW | Interop.Libc.O_CLOEXEC, mode);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            // ELOOP; with O_DIRECTORY a link gives ENOTDIR.
            bool link = errno == 40 || (errno == 20 && OfPath(path) is { IsSymbolicLink: true });
            var reason = link ? "it is a symbolic link" : Marshal.GetPInvokeErrorMessage(errno);
            throw new IOException($"open {path}: {reason}");
        }
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>Sets the permission bits of an open file exactly (no umask applies to <c>fchmod</c>).</summary>
    public static void SetMode(SafeHandle handle, int mode, string pathForErrors)
    {
        ArgumentNullException.ThrowIfNull(handle);
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            if (fchmod((int)handle.DangerousGetHandle(), mode) != 0)
                throw new IOException($"chmod {Convert.ToString(mode, 8)} {pathForErrors}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    /// <summary>The path with every symbolic link and <c>..</c> resolved, as the kernel will walk it; null when it does not exist.</summary>
    public static unsafe string? RealPath(string path)
    {
        nint resolved = realpath(path, 0);
        if (resolved == 0) return null;
        try { return Marshal.PtrToStringUTF8(resolved); }
        finally { NativeMemory.Free((void*)resolved); }
    }

    private static Status Read(byte[] buffer) =>
        new(BitConverter.ToUInt32(buffer, 20), BitConverter.ToUInt16(buffer, 28));

    /// <summary>A file's owner and <c>st_mode</c> (type and permission bits).</summary>
    public readonly record struct Status(uint Uid, int RawMode)
    {
        public bool IsDirectory => (RawMode & 0xF000) == 0x4000;
        public bool IsRegularFile => (RawMode & 0xF000) == 0x8000;
        public bool IsSymbolicLink => (RawMode & 0xF000) == 0xA000;

        /// <summary>Permission bits only (0777 plus setuid, setgid, sticky).</summary>
        public int Permissions => RawMode & 0xFFF;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, [Out] byte[] buffer);

    // open(2) is variadic; the mode is read only with O_CREAT and passed like any int argument on Linux's ABIs.
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fchmod(int fd, int mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint realpath(string path, nint resolved);
}
