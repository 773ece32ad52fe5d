using Microsoft.Extensions.Logging;
using Warden.Core.Interop;
using Warden.Core.Sandboxing;
using Warden.Core.Terminals;

namespace Warden.Core.Workspaces;

/// <summary>What homes can be on this host (decided once), and the checks <c>warden doctor</c> prints.</summary>
public sealed partial class UserHomes
{
    private static readonly string[] Ext4Tools = ["mke2fs", "e2fsck"];

    private const string ImageFix = "on a host: `modprobe loop` and `apt-get install e2fsprogs`; in a container: add `--device /dev/loop-control " +
        "--device-cgroup-rule='b 7:* rwm' --cap-add MKNOD` (Warden creates the /dev/loopN nodes it needs)";

    private sealed record Resolution(HomeStorage? Storage, string? Warning);

    private Resolution Resolve()
    {
        if (Libc.geteuid() != 0)
            return new(null, "users' homes are filesystems Warden mounts, which needs root: run Warden as root. Until then the terminal API answers 503.");
        var problem = ImageProblem();
        return _options.HomeStorage switch
        {
            HomeStorage.Tmpfs => new(HomeStorage.Tmpfs, "users' homes are size-capped tmpfs (Warden:Terminal:HomeStorage=tmpfs): " +
                "bounded like images, but a home's files are gone when its user's sandbox stops (idle, restart)."),
            HomeStorage.Image when problem is not null => new(null, $"users' homes cannot be made: {problem}. The terminal API answers 503 until " +
                $"this is fixed ({ImageFix}) or Warden:Terminal:HomeStorage=tmpfs is set (homes then do not persist)."),
            _ when problem is not null => new(HomeStorage.Tmpfs, $"users' homes are size-capped tmpfs, so a home's files are gone when its user's " +
                $"sandbox stops (idle, restart): persistent ext4 image homes need {problem}. Fix: {ImageFix}."),
            _ => new(HomeStorage.Image, null),
        };
    }

    /// <summary>Why image homes cannot work here, or null.</summary>
    private static unsafe string? ImageProblem()
    {
        if (!File.Exists(LoopDevice.ControlPath)) return $"loop devices ({LoopDevice.ControlPath} is missing)";
        fixed (byte* p = StorageCalls.Z(LoopDevice.ControlPath))
        {
            int fd = StorageCalls.openat(StorageCalls.AT_FDCWD, p, StorageCalls.O_RDWR | StorageCalls.O_CLOEXEC, 0);
            if (fd < 0) return $"loop devices ({LoopDevice.ControlPath}: {Libc.ErrorText(Libc.LastError)})";
            Libc.close(fd);
        }
        var missing = Ext4Tools.Where(t => StorageTool.Find(t) is null).ToList();
        return missing.Count > 0 ? $"e2fsprogs ({string.Join(" and ", missing)} not found)" : null;
    }

    /// <summary>
    /// For <c>warden doctor</c>: what homes will be, and a real home made the same way and filled past its size, which
    /// must fail with ENOSPC (and leave no mount or loop device behind).
    /// </summary>
    public async Task<IReadOnlyList<ProbeCheck>> ProbeAsync(CancellationToken cancellationToken)
    {
        var storage = Storage;
        var checks = new List<ProbeCheck>
        {
            storage switch
            {
                null => new ProbeCheck("terminal homes", false, Warning!, ImageFix, Required: _options.HomeStorage == HomeStorage.Image),
                HomeStorage.Image => new ProbeCheck("terminal homes", true, "a persistent ext4 image per user, loop-mounted: the kernel bounds size and file count"),
                _ => new ProbeCheck("terminal homes", false, Warning!, _options.HomeStorage == HomeStorage.Tmpfs ? null : ImageFix, Required: false),
            },
        };
        if (storage is { } kind)
        {
            try
            {
                var written = await SmokeTestAsync(kind, cancellationToken).ConfigureAwait(false);
                checks.Add(new ProbeCheck("terminal home smoke test", true,
                    $"made a home of {SmokeBytes >> 20} MB ({kind.ToString().ToLowerInvariant()}); writing into it stopped with ENOSPC after {written >> 20} MB"));
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
            {
                Log.SmokeTestFailed(_logger, e);
                checks.Add(new ProbeCheck("terminal home smoke test", false, e.Message, ImageFix));
            }
        }
        return checks;
    }

    private const long SmokeBytes = 8 << 20;

    /// <summary>Makes a small home the way users' homes are made, writes past its size, and removes it; the bytes written.</summary>
    private async Task<long> SmokeTestAsync(HomeStorage kind, CancellationToken cancellationToken)
    {
        var dir = Directory.CreateTempSubdirectory("warden-home-probe-").FullName;
        var mountPoint = Path.Combine(dir, "home");
        var image = Path.Combine(dir, ImageName);
        Directory.CreateDirectory(mountPoint);
        int? device = null;
        string? stillBound = null;
        long written;
        try
        {
            if (kind == HomeStorage.Image)
            {
                CreateSparse(image, SmokeBytes);
                await FormatAsync(image, 0, files: 1000).ConfigureAwait(false);
                using var loop = LoopDevice.Attach(image, readOnly: false);
                device = loop.Number;
                Mount(loop.DevicePath, mountPoint, "ext4", MS_NOSUID | MS_NODEV | MS_NOEXEC, "discard");
            }
            else Mount("tmpfs", mountPoint, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, $"size={SmokeBytes},mode=0700");
            try { written = FillUntilFull(Path.Combine(mountPoint, "fill"), SmokeBytes * 2, cancellationToken); }
            finally { Unmount(mountPoint); }
        }
        finally
        {
            if (device is int number && !await LoopDevice.WaitUnboundAsync(number, TimeSpan.FromSeconds(10)).ConfigureAwait(false))
                stillBound = LoopDevice.DevicePathOf(number);
            else Directory.Delete(dir, recursive: true);
        }
        // Thrown after the finally, not in it: a failure inside the try is the one to report, not replaced by this.
        if (stillBound is not null) throw new IOException($"{stillBound} stayed bound after the smoke test's unmount.");
        return written;
    }

    private static unsafe long FillUntilFull(string path, long limit, CancellationToken cancellationToken)
    {
        int fd;
        fixed (byte* p = StorageCalls.Z(path))
            fd = StorageCalls.openat(StorageCalls.AT_FDCWD, p, StorageCalls.O_WRONLY | StorageCalls.O_CREAT | StorageCalls.O_EXCL | StorageCalls.O_CLOEXEC, 0x180);
        if (fd < 0) throw new IOException($"create {path}: {Libc.ErrorText(Libc.LastError)}");
        try
        {
            var chunk = new byte[1 << 20];
            chunk.AsSpan().Fill(0x5a);
            long written = 0;
            fixed (byte* b = chunk)
            {
                while (written < limit)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    nint n = StorageCalls.write(fd, b, chunk.Length);
                    if (n > 0) { written += n; continue; }
                    int errno = Libc.LastError;
                    if (errno == StorageCalls.ENOSPC) return written;
                    throw new IOException($"writing into the home failed with {Libc.ErrorText(errno)}, not ENOSPC");
                }
            }
            throw new IOException($"{limit >> 20} MB fit into a {SmokeBytes >> 20} MB home: its size is not enforced");
        }
        finally { Libc.close(fd); }
    }
}
