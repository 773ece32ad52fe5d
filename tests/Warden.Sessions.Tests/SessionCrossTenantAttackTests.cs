using Warden.Core.Execution;
using Warden.Core.Sessions;

namespace Warden.Sessions.Tests;

/// <summary>
/// One tenant's session against another's, on whichever backend <see cref="TestBackend"/> names, through what the
/// kernel counts per host uid rather than per namespace: two sessions sharing a host uid share those budgets, so one
/// could exhaust the other's.
/// </summary>
public sealed class SessionCrossTenantAttackTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task PerUidKernelBudgets_ExhaustedByOneSession_AreUntouchedInAnother()
    {
        await using var host = await SessionHost.StartAsync(new() { ["Warden:MaxConcurrent"] = "2" });
        var ct = TestContext.Current.CancellationToken;
        await using var alice = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);
        await using var mallory = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("mallory")), ct).WaitAsync(Wait, ct);

        // inotify instances are counted per host uid (fs.inotify.max_user_instances, 128 by default), whatever the
        // namespaces: mallory takes every one her uid may have and keeps them in the kernel's globals.
        var hog = await mallory.ExecuteAsync(new CellRequest("""
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            held = []
            while len(held) < 100000:
                fd = libc.inotify_init1(0)
                if fd < 0:
                    break
                held.append(fd)
            print('held', len(held), 'errno', ctypes.get_errno())
            """), null, ct).WaitAsync(Wait, ct);
        Assert.True(hog.Status == ExecutionStatus.Success, $"{hog.Status}: {hog.Error?.Name} {hog.Error?.Value}");
        var words = Stdout(hog).Split(' ');
        Assert.Equal("held", words[0]);
        Assert.True(int.Parse(words[1], System.Globalization.CultureInfo.InvariantCulture) > 0, "the attack did not run: " + Stdout(hog));

        var victim = await alice.ExecuteAsync(new CellRequest("""
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(0)
            print('ok' if fd >= 0 else f'errno {ctypes.get_errno()}')
            """), null, ct).WaitAsync(Wait, ct);

        Assert.Equal(ExecutionStatus.Success, victim.Status);
        Assert.True(Stdout(victim) == "ok", $"another tenant's session took alice's inotify budget: {Stdout(victim)} (mallory {Stdout(hog)})");
    }

    /// <summary>
    /// A kernel trying the host-wide kernel interfaces a container escape goes through: sysrq, core_pattern, a cgroup
    /// v1 release_agent or a new cgroup, device nodes, mounts and a user namespace. Every one must be refused, and
    /// /dev must hold no block device and no character device beyond the harmless ones.
    /// </summary>
    [Fact]
    public async Task HostKernelInterfaces_DeviceNodes_MountsAndNamespaces_AreAllRefused()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var mallory = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("mallory")), ct).WaitAsync(Wait, ct);

        var probe = await mallory.ExecuteAsync(new CellRequest("""
            import ctypes, glob, json, os, stat
            libc = ctypes.CDLL(None, use_errno=True)
            out = {}
            def attempt(name, f):
                try:
                    r = f()
                    out[name] = 'done' if r is None or r == 0 else r
                except OSError as e:
                    out[name] = e.errno
            def write(path, text):
                with open(path, 'w') as f:
                    f.write(text)
            attempt('sysrq', lambda: write('/proc/sysrq-trigger', 'h'))
            attempt('core_pattern', lambda: write('/proc/sys/kernel/core_pattern', '|/tmp/x'))
            agents = glob.glob('/sys/fs/cgroup/*/release_agent') + glob.glob('/sys/fs/cgroup/release_agent')
            for i, agent in enumerate(agents):
                attempt(f'release_agent{i}', lambda a=agent: write(a, '/tmp/x'))
            attempt('new_cgroup', lambda: os.mkdir(glob.glob('/sys/fs/cgroup/*/')[0] + 'escape') if glob.glob('/sys/fs/cgroup/*/') else os.mkdir('/sys/fs/cgroup/escape'))
            attempt('kcore', lambda: len(open('/proc/kcore', 'rb').read(64)) or None)
            attempt('mknod', lambda: os.mknod('/tmp/mem', stat.S_IFCHR | 0o600, os.makedev(1, 1)))
            # gVisor lets the node be made on its own tmpfs, but a node names a device of the Sentry's kernel, never the
            # host's: what counts is that it cannot be opened and read.
            if os.path.exists('/tmp/mem'):
                attempt('open_mem', lambda: len(open('/tmp/mem', 'rb').read(64)) or None)
            def errno_of(rc):
                return 'done' if rc == 0 else ctypes.get_errno()
            attempt('mount', lambda: errno_of(libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)))
            attempt('unshare_user', lambda: errno_of(libc.unshare(0x10000000)))
            attempt('unshare_mount', lambda: errno_of(libc.unshare(0x00020000)))
            devices = []
            for root, dirs, files in os.walk('/dev'):
                for name in dirs + files:
                    path = os.path.join(root, name)
                    try:
                        st = os.lstat(path)
                    except OSError:
                        continue
                    if stat.S_ISBLK(st.st_mode) or (stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) not in (1, 5, 136)):
                        devices.append(f'{path} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)}')
            out['devices'] = devices
            print(json.dumps(out))
            """), null, ct).WaitAsync(Wait, ct);

        Assert.True(probe.Status == ExecutionStatus.Success, $"{probe.Status}: {probe.Error?.Name} {probe.Error?.Value}");
        using var report = System.Text.Json.JsonDocument.Parse(Stdout(probe));
        // gVisor: making the node is allowed in its own tmpfs (see above); opening it must still fail.
        bool MayBeMade(string name) => name == "mknod" && TestBackend.Name == "gvisor" && report.RootElement.TryGetProperty("open_mem", out _);
        foreach (var attempt in report.RootElement.EnumerateObject().Where(p => p.Name != "devices" && !MayBeMade(p.Name)))
        {
            // An errno (EACCES, EPERM, EROFS, ENOENT …) is a refusal; "done" or bytes read is a way out.
            Assert.True(attempt.Value.ValueKind == System.Text.Json.JsonValueKind.Number && attempt.Value.GetInt32() > 0,
                $"{attempt.Name}: {attempt.Value} (all: {Stdout(probe)})");
        }
        TestContext.Current.TestOutputHelper?.WriteLine(Stdout(probe));
        // gVisor's /dev holds two devices of its own kernel: FUSE (10:229; mounting it is refused above) and the tun device
        // of its user-space network stack (10:200; no network to reach). Neither is a host device.
        string[] sentryDevices = TestBackend.Name == "gvisor" ? ["/dev/fuse 10:229", "/dev/net/tun 10:200"] : [];
        Assert.Empty(report.RootElement.GetProperty("devices").EnumerateArray().Select(d => d.GetString()).Except(sentryDevices));
    }

    private static string Stdout(CellResult result) =>
        string.Concat(result.Outputs.OfType<StreamOutput>().Where(o => o.Name == "stdout").Select(o => o.Text)).Trim();
}
