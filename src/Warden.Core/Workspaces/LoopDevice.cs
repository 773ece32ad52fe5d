using System.Globalization;
using Warden.Core.Interop;

namespace Warden.Core.Workspaces;

/// <summary>
/// A loop device bound to an image file with <c>LO_FLAGS_AUTOCLEAR</c>: the kernel unbinds it when its last user goes
/// — this handle (<see cref="Dispose"/>) or, once mounted, the filesystem's unmount. So no path can leak one: a failed
/// mount, an exception, or a killed server (whose descriptors the kernel closes) all end with the device free, and a
/// mount left by a crash frees it when start-up recovery unmounts it. The unbinding itself runs asynchronously in the
/// kernel, a few milliseconds after the last user went (<see cref="WaitUnboundAsync"/>).
/// Bound with LOOP_CTL_GET_FREE + LOOP_CONFIGURE (one ioctl that sets the file and the flags together, Linux 5.8+)
/// rather than losetup: nothing to parse, no window in which the device is bound without AUTOCLEAR, and a device another
/// process takes between the two calls is an EBUSY we retry.
/// </summary>
internal sealed class LoopDevice : IDisposable
{
    public const string ControlPath = "/dev/loop-control";
    private const uint LoopMajor = 7;
    private int _fd;

    private LoopDevice(int number, int fd)
    {
        Number = number;
        _fd = fd;
    }

    public int Number { get; }

    public string DevicePath => DevicePathOf(Number);

    public static string DevicePathOf(int number) => "/dev/loop" + number.ToString(CultureInfo.InvariantCulture);

    /// <summary>Binds a free loop device to <paramref name="image"/> (opened without following links).</summary>
    public static unsafe LoopDevice Attach(string image, bool readOnly)
    {
        int backing = Open(image, (readOnly ? StorageCalls.O_RDONLY : StorageCalls.O_RDWR) | StorageCalls.O_NOFOLLOW);
        try
        {
            int control = Open(ControlPath, StorageCalls.O_RDWR);
            try
            {
                // Direct I/O: the image's pages are cached once (by the filesystem in it), not twice. A kernel that cannot do
                // it for this file refuses the flag (EINVAL) rather than ignoring it: then without.
                uint directIo = StorageCalls.LO_FLAGS_DIRECT_IO;
                for (int attempt = 0; ; attempt++)
                {
                    int number = StorageCalls.ioctl(control, StorageCalls.LOOP_CTL_GET_FREE, 0);
                    if (number < 0) throw Error("LOOP_CTL_GET_FREE on " + ControlPath);
                    int device = OpenDevice(number);
                    var config = new LoopConfig { Fd = (uint)backing };
                    config.Info.Flags = StorageCalls.LO_FLAGS_AUTOCLEAR | directIo | (readOnly ? StorageCalls.LO_FLAGS_READ_ONLY : 0);
                    var name = StorageCalls.Z(image);
                    for (int i = 0; i < Math.Min(63, name.Length - 1); i++) config.Info.FileName[i] = name[i];
                    if (StorageCalls.ioctl(device, StorageCalls.LOOP_CONFIGURE, (nint)(&config)) == 0) return new LoopDevice(number, device);
                    int errno = Libc.LastError;
                    Libc.close(device);
                    if (errno == StorageCalls.EINVAL && directIo != 0 && attempt < 16) directIo = 0;
                    // Another process bound the device between GET_FREE and CONFIGURE: take the next free one.
                    else if (errno != StorageCalls.EBUSY || attempt >= 16) throw new IOException($"LOOP_CONFIGURE {DevicePathOf(number)} with {image}: {Libc.ErrorText(errno)}");
                }
            }
            finally
            {
                Libc.close(control);
            }
        }
        finally
        {
            // The device holds its own reference to the file.
            Libc.close(backing);
        }
    }

    /// <summary>
    /// Opens /dev/loopN; creates the node first where /dev is not a devtmpfs (a container's /dev), from the number the
    /// kernel gives the device in /sys/block/loopN/dev.
    /// </summary>
    private static unsafe int OpenDevice(int number)
    {
        var path = DevicePathOf(number);
        var z = StorageCalls.Z(path);
        fixed (byte* p = z)
        {
            int fd = StorageCalls.openat(StorageCalls.AT_FDCWD, p, StorageCalls.O_RDWR | StorageCalls.O_CLOEXEC, 0);
            if (fd >= 0 || Libc.LastError != StorageCalls.ENOENT) return fd >= 0 ? fd : throw Error("open " + path);
            uint minor = (uint)number;
            var dev = File.ReadAllText($"/sys/block/loop{number.ToString(CultureInfo.InvariantCulture)}/dev").Trim().Split(':');
            if (dev.Length == 2) minor = uint.Parse(dev[1], CultureInfo.InvariantCulture);
            if (StorageCalls.mknodat(StorageCalls.AT_FDCWD, p, (uint)StorageCalls.S_IFBLK | 0x180, StorageCalls.MakeDevice(LoopMajor, minor)) != 0
                && Libc.LastError != StorageCalls.EEXIST)
                throw Error("mknod " + path);
            fd = StorageCalls.openat(StorageCalls.AT_FDCWD, p, StorageCalls.O_RDWR | StorageCalls.O_CLOEXEC, 0);
            return fd >= 0 ? fd : throw Error("open " + path);
        }
    }

    /// <summary>Loop devices bound to <paramref name="image"/> now (its path and its inode both match).</summary>
    public static unsafe IReadOnlyList<int> BoundTo(string image)
    {
        Statx st;
        var z = StorageCalls.Z(image);
        fixed (byte* p = z)
            if (StorageCalls.statx(StorageCalls.AT_FDCWD, p, StorageCalls.AT_SYMLINK_NOFOLLOW, StorageCalls.STATX_BASIC_STATS, &st) != 0) return [];
        var found = new List<int>();
        foreach (var (number, backing) in Bound())
        {
            if (backing != image || ReadStatus(number) is not { } info) continue;
            if (info.Inode == st.Ino && info.Device == StorageCalls.EncodeDevice(st.DevMajor, st.DevMinor)) found.Add(number);
        }
        return found;
    }

    /// <summary>Every bound loop device and the path of its backing file, from sysfs.</summary>
    public static IEnumerable<(int Number, string BackingFile)> Bound()
    {
        if (!Directory.Exists("/sys/block")) yield break;
        foreach (var dir in Directory.EnumerateDirectories("/sys/block", "loop*"))
        {
            if (!int.TryParse(Path.GetFileName(dir).AsSpan(4), NumberStyles.None, CultureInfo.InvariantCulture, out var number)) continue;
            string backing;
            try { backing = File.ReadAllText(Path.Combine(dir, "loop", "backing_file")).TrimEnd('\n'); }
            catch (IOException) { continue; } // not bound: sysfs has no loop/ directory then
            catch (UnauthorizedAccessException) { continue; }
            yield return (number, backing);
        }
    }

    public static bool IsBound(int number) => File.Exists($"/sys/block/loop{number.ToString(CultureInfo.InvariantCulture)}/loop/backing_file");

    /// <summary>Waits (bounded) for the kernel's asynchronous autoclear of a device whose last user has gone.</summary>
    public static async Task<bool> WaitUnboundAsync(int number, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (IsBound(number))
        {
            if (DateTime.UtcNow > deadline) return false;
            await Task.Delay(10).ConfigureAwait(false);
        }
        return true;
    }

    /// <summary>Unbinds a device nothing uses any more (a leftover of a crashed instance); EBUSY while mounted.</summary>
    public static unsafe bool TryDetach(int number)
    {
        var z = StorageCalls.Z(DevicePathOf(number));
        fixed (byte* p = z)
        {
            int fd = StorageCalls.openat(StorageCalls.AT_FDCWD, p, StorageCalls.O_RDWR | StorageCalls.O_CLOEXEC, 0);
            if (fd < 0) return false;
            try { return StorageCalls.ioctl(fd, StorageCalls.LOOP_CLR_FD, 0) == 0; }
            finally { Libc.close(fd); }
        }
    }

    private static unsafe LoopInfo64? ReadStatus(int number)
    {
        var z = StorageCalls.Z(DevicePathOf(number));
        fixed (byte* p = z)
        {
            // O_RDONLY: reading the status must not count as a user that keeps an autoclear device alive longer than a moment.
            int fd = StorageCalls.openat(StorageCalls.AT_FDCWD, p, StorageCalls.O_RDONLY | StorageCalls.O_CLOEXEC | StorageCalls.O_NONBLOCK, 0);
            if (fd < 0) return null;
            try
            {
                LoopInfo64 info;
                return StorageCalls.ioctl(fd, StorageCalls.LOOP_GET_STATUS64, (nint)(&info)) == 0 ? info : null;
            }
            finally { Libc.close(fd); }
        }
    }

    private static unsafe int Open(string path, int flags)
    {
        var z = StorageCalls.Z(path);
        fixed (byte* p = z)
        {
            int fd = StorageCalls.openat(StorageCalls.AT_FDCWD, p, flags | StorageCalls.O_CLOEXEC, 0);
            return fd >= 0 ? fd : throw Error("open " + path);
        }
    }

    private static IOException Error(string what) => new($"{what}: {Libc.ErrorText(Libc.LastError)}");

    /// <summary>Drops this handle's use of the device: unbound now unless a mount still uses it.</summary>
    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) Libc.close(fd);
    }
}
