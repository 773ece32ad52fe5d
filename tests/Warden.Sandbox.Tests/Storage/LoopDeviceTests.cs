using System.Diagnostics;
using System.Globalization;
using Warden.Core.Workspaces;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Storage;

/// <summary>
/// Loop devices are a host resource: every path through a user's home binding must end with the device unbound (the
/// kernel's autoclear, a moment after the last user goes), including a failed mount and a process killed holding one.
/// </summary>
public sealed class LoopDeviceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("warden-loop-tests-").FullName;

    public LoopDeviceTests()
    {
        if (!Environment.IsPrivilegedProcess || !File.Exists(LoopDevice.ControlPath))
            throw SandboxRequirement.Unavailable("loop devices", "needs root and " + LoopDevice.ControlPath);
    }

    [Fact]
    public async Task Attach_ThenDisposeWithoutMounting_Unbinds()
    {
        var image = Image("zeros.img", format: false);
        int number;
        using (var loop = LoopDevice.Attach(image, readOnly: false))
        {
            number = loop.Number;
            Assert.Equal([number], LoopDevice.BoundTo(image));
        }
        Assert.True(await LoopDevice.WaitUnboundAsync(number, TimeSpan.FromSeconds(10)));
        Assert.Empty(LoopDevice.BoundTo(image));
    }

    [Fact]
    public async Task Attach_MountFails_Unbinds()
    {
        var image = Image("zeros.img", format: false); // no filesystem: mount(2) fails
        var target = Directory.CreateDirectory(Path.Combine(_dir, "mnt")).FullName;
        int number;
        using (var loop = LoopDevice.Attach(image, readOnly: false))
        {
            number = loop.Number;
            Assert.NotEqual(0, Mount(loop.DevicePath, target));
        }
        Assert.True(await LoopDevice.WaitUnboundAsync(number, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Attach_Mounted_StaysBoundUntilTheUnmount()
    {
        var image = Image("ext4.img", format: true);
        var target = Directory.CreateDirectory(Path.Combine(_dir, "mnt")).FullName;
        int number;
        using (var loop = LoopDevice.Attach(image, readOnly: false))
        {
            number = loop.Number;
            Assert.Equal(0, Mount(loop.DevicePath, target));
        }
        // The mount is the device's user now: still bound, with our handle gone.
        await Task.Delay(200, TestContext.Current.CancellationToken);
        Assert.True(LoopDevice.IsBound(number));

        Assert.Equal(0, umount2(target, 0));

        Assert.True(await LoopDevice.WaitUnboundAsync(number, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void BoundTo_MatchesTheImageOnly()
    {
        var first = Image("a.img", format: false);
        var second = Image("b.img", format: false);
        using var loop = LoopDevice.Attach(first, readOnly: true);

        Assert.Equal([loop.Number], LoopDevice.BoundTo(first));
        Assert.Empty(LoopDevice.BoundTo(second));
    }

    [Fact]
    public async Task ProcessKilledWhileHoldingAnAutoclearDevice_TheDeviceUnbinds()
    {
        // What a server killed between binding and mounting leaves: nothing, because the kernel closes its descriptors.
        // The child binds exactly as LoopDevice.Attach does (LOOP_CONFIGURE with LO_FLAGS_AUTOCLEAR), then waits.
        const string binder = """
            import ctypes, fcntl, os, struct, sys, time
            control = os.open('/dev/loop-control', os.O_RDWR)
            number = fcntl.ioctl(control, 0x4C82)
            device = os.open('/dev/loop%d' % number, os.O_RDWR)
            backing = os.open(sys.argv[1], os.O_RDWR)
            info = struct.pack('=QQQQQIIII64s64s32s16x', 0, 0, 0, 0, 0, 0, 0, 0, 4, b'', b'', b'')
            config = struct.pack('=II', backing, 0) + info + bytes(64)
            fcntl.ioctl(device, 0x4C0A, config)
            os.close(backing)
            print(number, flush=True)
            time.sleep(600)
            """;
        var image = Image("held.img", format: false);
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "-c", binder, image }) start.ArgumentList.Add(a);
        using var child = Process.Start(start)!;
        int number = int.Parse((await child.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken))!, CultureInfo.InvariantCulture);
        Assert.Equal([number], LoopDevice.BoundTo(image));

        child.Kill();
        await child.WaitForExitAsync(TestContext.Current.CancellationToken);

        Assert.True(await LoopDevice.WaitUnboundAsync(number, TimeSpan.FromSeconds(10)));
    }

    private string Image(string name, bool format)
    {
        var path = Path.Combine(_dir, name);
        using (var file = File.Create(path)) file.SetLength(8 << 20);
        if (format)
        {
            using var mkfs = Process.Start("mke2fs", ["-q", "-F", "-t", "ext4", "-O", "^has_journal", path])!;
            mkfs.WaitForExit();
            Assert.Equal(0, mkfs.ExitCode);
        }
        return path;
    }

    private static int Mount(string device, string target) => mount(device, target, "ext4", 2 | 4, null);

    public void Dispose()
    {
        if (File.ReadLines("/proc/self/mountinfo").Any(l => l.Contains(_dir, StringComparison.Ordinal))) _ = umount2(Path.Combine(_dir, "mnt"), 2);
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int mount(string source, string target, string type, ulong flags, string? data);

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int umount2(string target, int flags);
}
