using System.Text;
using System.Text.Unicode;
using Warden.Core.Execution;
using Warden.Core.Interop;

namespace Warden.Core.Sandboxing.Files;

/// <summary>
/// A directory a sandbox controls (a workspace), held open by descriptor: the one way host-side code reads, writes or
/// removes what a sandbox can touch. Every name below it is opened one component at a time, relative to its parent's
/// descriptor, with <c>openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)</c> and
/// <c>O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC</c> (plain <c>openat(O_NOFOLLOW)</c> plus a device check where openat2 is
/// missing or filtered), and judged by <c>statx</c> on the open descriptor. So no symlink is ever followed, no FIFO can
/// block an open, no other filesystem is entered, and nothing is checked by name and then used: what is read is what
/// was checked, whatever renames race the walk. Sockets, FIFOs and devices are recognised from the directory entry and
/// never opened at all. Walks are iterative and bounded in depth, entries and path length; names are raw bytes.
/// </summary>
internal sealed partial class SandboxTree : IDisposable
{
    private readonly int _root;
    private readonly uint _devMajor;
    private readonly uint _devMinor;
    private int _disposed;

    private SandboxTree(int root, in Statx stat)
    {
        _root = root;
        _devMajor = stat.DevMajor;
        _devMinor = stat.DevMinor;
    }

    /// <summary>
    /// Whether openat2 is used (kernel 5.6+, not filtered by a seccomp profile); otherwise each single-component open
    /// uses O_NOFOLLOW and the walk compares devices itself. Settable so tests cover both.
    /// </summary>
    internal static bool UseOpenat2 { get; set; } = ProbeOpenat2();

    /// <summary>
    /// Opens <paramref name="hostDirectory"/>, a path Warden made (a slot's workspace), as the tree's root. The last
    /// component must be a directory, not a link to one.
    /// </summary>
    public static SandboxTree Open(string hostDirectory)
    {
        int fd = Libc.open(hostDirectory, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC);
        if (fd < 0) throw new IOException($"open {hostDirectory}: {Libc.ErrorText(Libc.LastError)}");
        if (!TryStat(fd, out var stat) || (stat.Mode & Libc.S_IFMT) != Libc.S_IFDIR)
        {
            Libc.close(fd);
            throw new IOException($"{hostDirectory} is not a directory.");
        }
        return new SandboxTree(fd, stat);
    }

    /// <summary>
    /// Opens one entry of the directory <paramref name="dirFd"/>: a single name (never containing '/', never "." or
    /// ".."), so RESOLVE_BENEATH holds by construction and NO_SYMLINKS refuses a link in the last (only) place it could be.
    /// </summary>
    private static unsafe int OpenEntry(int dirFd, ReadOnlySpan<byte> name, int flags, int mode, out int errno)
    {
        Span<byte> path = stackalloc byte[name.Length + 1];
        name.CopyTo(path);
        path[^1] = 0;
        flags |= Libc.O_NOFOLLOW | Libc.O_CLOEXEC;
        long fd;
        fixed (byte* p = path)
        {
            if (UseOpenat2)
            {
                var how = new Libc.OpenHow
                {
                    Flags = (ulong)flags,
                    Mode = (flags & Libc.O_CREAT) != 0 ? (ulong)mode : 0,
                    Resolve = Libc.RESOLVE_BENEATH | Libc.RESOLVE_NO_SYMLINKS | Libc.RESOLVE_NO_MAGICLINKS | Libc.RESOLVE_NO_XDEV,
                };
                do fd = Libc.syscall_openat2(Libc.SYS_openat2, dirFd, p, &how, sizeof(Libc.OpenHow));
                while (fd < 0 && Libc.LastError == Libc.EINTR);
            }
            else
            {
                do fd = Libc.openat(dirFd, p, flags, mode);
                while (fd < 0 && Libc.LastError == Libc.EINTR);
            }
        }
        errno = fd < 0 ? Libc.LastError : 0;
        return (int)fd;
    }

    /// <summary><c>fstat</c> of an open descriptor (statx with AT_EMPTY_PATH: one layout on every architecture).</summary>
    private static unsafe bool TryStat(int fd, out Statx stat)
    {
        Statx buffer;
        byte empty = 0;
        int r = StorageCalls.statx(fd, &empty, Libc.AT_EMPTY_PATH | Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, &buffer);
        stat = buffer;
        return r == 0;
    }

    /// <summary>The type of an entry whose directory entry did not say (DT_UNKNOWN): lstat by name, only to decide what to try.</summary>
    private static unsafe int TypeByName(int dirFd, ReadOnlySpan<byte> name)
    {
        Span<byte> path = stackalloc byte[name.Length + 1];
        name.CopyTo(path);
        path[^1] = 0;
        Statx buffer;
        fixed (byte* p = path)
            return StorageCalls.statx(dirFd, p, Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, &buffer) == 0 ? buffer.Mode & Libc.S_IFMT : 0;
    }

    private bool SameFilesystem(in Statx stat) => stat.DevMajor == _devMajor && stat.DevMinor == _devMinor;

    private static int TypeOf(byte direntType) => direntType switch
    {
        Libc.DT_REG => Libc.S_IFREG,
        Libc.DT_DIR => Libc.S_IFDIR,
        Libc.DT_LNK => Libc.S_IFLNK,
        Libc.DT_FIFO => Libc.S_IFIFO,
        Libc.DT_SOCK => Libc.S_IFSOCK,
        Libc.DT_CHR => Libc.S_IFCHR,
        Libc.DT_BLK => Libc.S_IFBLK,
        _ => 0,
    };

    /// <summary>Why an entry of this type is not a regular file or directory; null for those two.</summary>
    private static FileSkipReason? SpecialReason(int type) => type switch
    {
        Libc.S_IFLNK => FileSkipReason.Symlink,
        Libc.S_IFIFO => FileSkipReason.Fifo,
        Libc.S_IFSOCK => FileSkipReason.Socket,
        Libc.S_IFCHR or Libc.S_IFBLK => FileSkipReason.Device,
        Libc.S_IFREG or Libc.S_IFDIR => null,
        _ => FileSkipReason.Changed,
    };

    /// <summary>What an open's failure says about the entry (it was judged by its directory entry a moment before).</summary>
    private static FileSkipReason ReasonFor(int errno) => errno switch
    {
        Libc.ELOOP => FileSkipReason.Symlink,      // became a link (O_NOFOLLOW / RESOLVE_NO_SYMLINKS)
        Libc.ENXIO => FileSkipReason.Socket,       // became a socket
        Libc.EXDEV => FileSkipReason.OtherFilesystem,
        Libc.ENOENT or Libc.ENOTDIR or Libc.EISDIR => FileSkipReason.Changed,
        Libc.ENAMETOOLONG => FileSkipReason.NameTooLong,
        _ => FileSkipReason.Unreadable,            // EACCES, a lease (EAGAIN), anything else
    };

    /// <summary>The name's text, or null when its bytes are not UTF-8.</summary>
    private static string? Decode(ReadOnlySpan<byte> name) => Utf8.IsValid(name) ? Encoding.UTF8.GetString(name) : null;

    private static bool IsDotOrDotDot(ReadOnlySpan<byte> name) => name.SequenceEqual("."u8) || name.SequenceEqual(".."u8);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) Libc.close(_root);
    }

    private static bool ProbeOpenat2()
    {
        unsafe
        {
            var how = new Libc.OpenHow { Flags = (ulong)(Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC), Resolve = Libc.RESOLVE_NO_SYMLINKS };
            fixed (byte* root = "/\0"u8)
            {
                long fd = Libc.syscall_openat2(Libc.SYS_openat2, -100 /* AT_FDCWD */, root, &how, sizeof(Libc.OpenHow));
                if (fd < 0) return false; // ENOSYS (before 5.6), EPERM (a seccomp profile that does not know it)
                Libc.close((int)fd);
                return true;
            }
        }
    }
}
