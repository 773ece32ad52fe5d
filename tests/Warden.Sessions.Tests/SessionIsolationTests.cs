using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Core.Sandboxing;
using Warden.Core.Sessions;

namespace Warden.Sessions.Tests;

/// <summary>
/// Attacks on a long-lived sandbox from inside, on whichever backend <see cref="TestBackend"/> names: each test is a
/// kernel (or a program given its own session sandbox) trying to reach what its isolation claims to keep out.
/// </summary>
public sealed class SessionIsolationTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Network_ReachesNothing_NotEvenTheHostsLoopback()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);

        // The interfaces of the sandbox's network namespace, then a connection to a port the host listens on (its
        // loopback) and to the outside. Warden's seccomp policy may already refuse the socket itself: also a failure.
        var result = await session.ExecuteAsync(new CellRequest($$"""
            import socket
            print(sorted(line.split(':')[0].strip() for line in open('/proc/net/dev').read().splitlines()[2:]))
            for target in [('127.0.0.1', {{port}}), ('1.1.1.1', 53)]:
                try:
                    s = socket.socket()
                    s.settimeout(2)
                    s.connect(target)
                    print('connected', target)
                except OSError as e:
                    print('failed', e.errno)
            """), null, ct).WaitAsync(Wait, ct);

        Assert.True(result.Status == ExecutionStatus.Success, $"{result.Status}: {result.Error?.Name} {result.Error?.Value} {result.Detail}");
        var lines = Stdout(result).Split('\n');
        Assert.Equal("['lo']", lines[0]);
        Assert.Equal(["failed", "failed"], lines[1..].Select(l => l.Split(' ')[0]));
        Assert.False(listener.Pending(), "a connection from the sandbox reached the host's loopback");
    }

    [Fact]
    public async Task Capabilities_AreEmpty_NoNewPrivileges_AndSeccompFilters()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);

        var result = await session.ExecuteAsync(new CellRequest("""
            fields = dict(line.split(':\t', 1) for line in open('/proc/self/status').read().splitlines() if ':\t' in line)
            for key in ['CapInh', 'CapPrm', 'CapEff', 'CapAmb']:
                if key in fields: print(key, fields[key].strip())
            # From the kernel itself, not /proc (gVisor's status file has no NoNewPrivs or Seccomp line):
            # PR_GET_NO_NEW_PRIVS (39) and PR_GET_SECCOMP (21, 2 = a filter is installed).
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            print('NoNewPrivs', libc.prctl(39, 0, 0, 0, 0))
            print('Seccomp', libc.prctl(21, 0, 0, 0, 0))
            import os
            print('uid', os.getuid(), os.geteuid())
            """), null, ct).WaitAsync(Wait, ct);

        var status = Stdout(result).Split('\n').Select(l => l.Split(' ')).ToDictionary(p => p[0], p => string.Join(' ', p[1..]));
        // This runsc's /proc/self/status has no CapAmb line (gVisor never grants ambient capabilities); every other
        // kernel shows it, and it must be empty.
        string[] sets = TestBackend.Name == "gvisor" ? ["CapInh", "CapPrm", "CapEff"] : ["CapInh", "CapPrm", "CapEff", "CapAmb"];
        foreach (var cap in sets) Assert.Equal("0000000000000000", status[cap]);
        Assert.Equal("1", status["NoNewPrivs"]);
        Assert.Equal("2", status["Seccomp"]);
        Assert.DoesNotContain("0", status["uid"].Split(' '));
    }

    [Fact]
    public async Task Memory_AChildCannotTakeMoreThanTheSessionsLimit_AndTheKernelLives()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(
            new SessionRequest("python", Owners.User("alice"), new LimitRequest { MemoryMb = 128 }), ct).WaitAsync(Wait, ct);

        var hog = await session.ExecuteAsync(new CellRequest("""
            import subprocess, sys
            child = subprocess.run([sys.executable, '-c', 'b = bytearray(400 << 20); b[::4096] = b"x" * len(b[::4096]); print("allocated")'],
                                   capture_output=True, text=True)
            print('returncode', child.returncode, child.stdout.strip())
            """), null, ct).WaitAsync(Wait, ct);

        Assert.Equal(ExecutionStatus.MemoryLimit, hog.Status);
        if (TestBackend.Name == "gvisor")
        {
            // gVisor's Sentry is charged to the session's cgroup with the program (docs/sandbox-spec.md): the host kernel's
            // OOM killer takes the Sentry, so the whole sandbox goes. The cell still says memory_limit, and says the kernel
            // was lost; the next cell gets a fresh one.
            Assert.True(hog.KernelLost, hog.Detail);
        }
        else
        {
            Assert.False(hog.KernelLost, hog.Detail);
            Assert.Equal("returncode -9", Stdout(hog));
            Assert.InRange(hog.PeakMemoryBytes, 1, 128L << 20);
        }
        var after = await session.ExecuteAsync(new CellRequest("print('alive')"), null, ct).WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Success, after.Status);
    }

    [Fact]
    public async Task Pids_ForkingPastTheLimitFails_AndTheCellCanStillBeInterrupted()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(
            new SessionRequest("python", Owners.User("alice"), new LimitRequest { MaxProcesses = 24 }), ct).WaitAsync(Wait, ct);

        // Every process slot taken, then a sleep the timeout must interrupt: the interrupt may not need a new process.
        var bomb = await session.ExecuteAsync(new CellRequest("""
            import os, time
            children = []
            try:
                while len(children) < 200:
                    pid = os.fork()
                    if pid == 0:
                        try:
                            time.sleep(300)
                        finally:
                            os._exit(0)  # a forked child must never unwind into the kernel's own code
                    children.append(pid)
            except OSError as e:
                print('errno', e.errno, 'children', len(children), flush=True)
            time.sleep(30)
            """, TimeoutSeconds: 2), null, ct).WaitAsync(Wait, ct);

        var words = Stdout(bomb).Split(' ');
        Assert.Equal("errno", words[0]);
        Assert.Equal("11", words[1]); // EAGAIN: the pids cgroup refused the fork
        Assert.InRange(int.Parse(words[3], System.Globalization.CultureInfo.InvariantCulture), 1, 24);
        Assert.Equal(ExecutionStatus.Timeout, bomb.Status);
        Assert.Equal("KeyboardInterrupt", bomb.Error?.Name);
        Assert.False(bomb.KernelLost, bomb.Detail);
    }

    [Fact]
    public async Task AnotherSessionsFilesAndProcesses_AreInvisible()
    {
        await using var host = await SessionHost.StartAsync(new() { ["Warden:MaxConcurrent"] = "2" });
        var ct = TestContext.Current.CancellationToken;
        await using var alice = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);
        await using var mallory = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("mallory")), ct).WaitAsync(Wait, ct);
        var marker = "secret-" + Guid.NewGuid().ToString("N");

        var planted = await alice.ExecuteAsync(new CellRequest($$"""
            import os, subprocess
            open('/sandbox/{{marker}}', 'w').write('alice only')
            open('/tmp/{{marker}}', 'w').write('alice only')
            subprocess.Popen(['sleep', '300', '{{marker}}'])
            print(os.getcwd())
            """), null, ct).WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Success, planted.Status);

        var search = await mallory.ExecuteAsync(new CellRequest($$"""
            import os
            found = []
            for top in ['/sandbox', '/tmp', '/opt', '/home', '/var', '/run', '/dev/shm']:
                for root, dirs, files in os.walk(top):
                    found += [os.path.join(root, f) for f in files if '{{marker}}' in f]
            for pid in os.listdir('/proc'):
                if pid.isdigit():
                    try:
                        if '{{marker}}' in open(f'/proc/{pid}/cmdline').read():
                            found.append('pid ' + pid)
                    except OSError:
                        pass
            print('found', found)
            """), null, ct).WaitAsync(Wait, ct);

        Assert.Equal(ExecutionStatus.Success, search.Status);
        Assert.Equal("found []", Stdout(search));
    }

    [Fact]
    public async Task PersistentWorkspace_IsWrittenAsItsOwnUid_SupportFilesAreReadOnly_AndDisposeLeavesNothing()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        int uid = 470000 + Environment.ProcessId % 1000;
        var home = Directory.CreateTempSubdirectory("warden-session-home-").FullName;
        try
        {
            Chown(home, uid, Convert.ToInt32("700", 8));
            var rootsFile = Path.Combine(home, "roots");
            await File.WriteAllTextAsync(rootsFile, "root's", ct);
            var name = Guid.NewGuid().ToString("N")[..16];
            var program = """
                import os, json
                out = {'uid': os.getuid()}
                open('made-here', 'w').write('x')
                for path in ['roots', '/opt/warden/probe.txt']:
                    try:
                        open(path, 'a').write('changed')
                        out[path] = 'written'
                    except OSError as e:
                        out[path] = e.errno
                out['support'] = open('/opt/warden/probe.txt').read()
                print(json.dumps(out), flush=True)
                input()
                """;
            var spec = new SessionSpec(name + "-1", new SandboxCommand(["/usr/bin/python3", "-I", "-c", program],
                    new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin" }, []), SandboxLimits.Generous(),
                new Dictionary<string, byte[]> { ["probe.txt"] = "support"u8.ToArray() }, "/opt/warden", new PersistentWorkspace(home, uid, "/home/user"));
            var sandbox = await ((ISessionBackend)host.Backend).StartSessionAsync(spec, ct).AsTask().WaitAsync(Wait, ct);
            JsonElement report;
            try
            {
                using var reader = new StreamReader(sandbox.Output, Encoding.UTF8, leaveOpen: true);
                var line = await reader.ReadLineAsync(ct).AsTask().WaitAsync(Wait, ct);
                Assert.True(line is not null, "no report; stderr: " + sandbox.RecentErrors);
                report = JsonDocument.Parse(line!).RootElement.Clone();
                Assert.NotEmpty(Leaks.Sandboxes(host.Instance, name));
                Assert.NotEmpty(Leaks.Processes(name));
                await sandbox.KillAsync(ct).AsTask().WaitAsync(Wait, ct);
                await sandbox.Exited.WaitAsync(Wait, ct);
            }
            finally
            {
                await sandbox.DisposeAsync().AsTask().WaitAsync(Wait, ct);
            }

            Assert.Equal(13, report.GetProperty("roots").GetInt32()); // EACCES: not root, not the file's owner
            Assert.True(report.GetProperty("/opt/warden/probe.txt").GetInt32() is 13 or 30, "support files must not be writable"); // EACCES or EROFS
            Assert.Equal("support", report.GetProperty("support").GetString());
            Assert.Equal("root's", await File.ReadAllTextAsync(rootsFile, ct));
            Assert.Equal(uid, OwnerOf(Path.Combine(home, "made-here")));
            Assert.Empty(Leaks.Sandboxes(host.Instance, name));
            Assert.Empty(Leaks.Mounts(name));
            Assert.Empty(Leaks.Processes(name));
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    [Fact]
    public async Task FreshWorkspace_KillThenDispose_LeavesNoSandboxVolumeOrProcess()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        var name = Guid.NewGuid().ToString("N")[..16];
        // Named as a session's first kernel is ("{id}-1"), which is what Leaks looks for.
        var spec = new SessionSpec(name + "-1", new SandboxCommand(["/bin/sh", "-c", "sleep 300 & echo up; exec cat"], new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin" }, []),
            SandboxLimits.Generous(), new Dictionary<string, byte[]>());
        var sandbox = await ((ISessionBackend)host.Backend).StartSessionAsync(spec, ct).AsTask().WaitAsync(Wait, ct);
        try
        {
            using var reader = new StreamReader(sandbox.Output, Encoding.UTF8, leaveOpen: true);
            Assert.Equal("up", await reader.ReadLineAsync(ct).AsTask().WaitAsync(Wait, ct));
            Assert.NotEmpty(Leaks.Sandboxes(host.Instance, name));
            Assert.NotEmpty(Leaks.Processes(name));
            await sandbox.KillAsync(ct).AsTask().WaitAsync(Wait, ct);
            await sandbox.Exited.WaitAsync(Wait, ct);
            Assert.Empty(Leaks.Processes(name));
        }
        finally
        {
            await sandbox.DisposeAsync().AsTask().WaitAsync(Wait, ct);
        }
        Assert.Empty(Leaks.Sandboxes(host.Instance, name));
        Assert.Empty(Leaks.Mounts(name));
        Assert.Empty(Leaks.Processes(name));
    }

    private static void Chown(string path, int uid, int mode)
    {
        using var chown = System.Diagnostics.Process.Start("chown", [$"{uid}:{uid}", path]);
        chown.WaitForExit();
        Assert.Equal(0, chown.ExitCode);
        File.SetUnixFileMode(path, (UnixFileMode)mode);
    }

    private static int OwnerOf(string path)
    {
        using var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u", path]) { RedirectStandardOutput = true })!;
        var owner = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        return int.Parse(owner, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string Stdout(CellResult result) =>
        string.Concat(result.Outputs.OfType<StreamOutput>().Where(o => o.Name == "stdout").Select(o => o.Text)).Trim();
}
