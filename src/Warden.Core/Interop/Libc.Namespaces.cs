using System.Runtime.InteropServices;

namespace Warden.Core.Interop;

/// <summary>Network namespaces: unshare and setns (per thread for CLONE_NEWNET), and the interface flags ioctl.</summary>
internal static partial class Libc
{
    public const int CLONE_NEWNET = 0x40000000;
    public const nuint SIOCGIFFLAGS = 0x8913;
    public const nuint SIOCSIFFLAGS = 0x8914;
    public const short IFF_UP = 0x1;

    /// <summary><c>struct ifreq</c>: a 16-byte name, then a 24-byte union whose first member is <c>short ifr_flags</c>.</summary>
    public const int IfreqSize = 40;
    public const int IfreqFlagsOffset = 16;

    [LibraryImport(Lib, SetLastError = true)] public static partial int unshare(int flags);
    [LibraryImport(Lib, SetLastError = true)] public static partial int setns(int fd, int nstype);
    [LibraryImport(Lib, EntryPoint = "ioctl", SetLastError = true)] public static unsafe partial int ioctl_ptr(int fd, nuint request, byte* argument);
}
