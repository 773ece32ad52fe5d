using System.Diagnostics;
using System.Globalization;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Core.Sandboxing.Gvisor;
using Warden.Core.Sessions;

namespace Warden.Sessions.Tests;

/// <summary>
/// Tries to break a session sandbox from inside, on whichever backend <see cref="TestBackend"/> names: another session's
/// files and processes, the process cap, the workspace's owner on the host, and what a killed or deleted kernel leaves.
/// </summary>
public sealed class SessionSandboxBoundaryTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Kernel_CannotSeeAnotherSessionsFilesOrProcesses()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var alice = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);
        await using var bob = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("bob")), ct).WaitAsync(Wait, ct);
        var planted = await alice.ExecuteAsync(new CellRequest("""
            import subprocess
            open('alice-token-5f1e.txt', 'w').write('alice-token-5f1e')
            keeper = subprocess.Popen(['sleep', '431'])
            print('planted')
            """), null, ct).WaitAsync(Wait, ct);
        Assert.Equal("planted\n", Stdout(planted));

        // Every readable file outside /proc, /sys and the host's read-only /usr (and the /bin-style links into it), by name
        // and content; every process.
        var probe = await bob.ExecuteAsync(new CellRequest(TimeoutSeconds: 40, Code: """
            import os
            found = []
            for top in os.listdir('/'):
                if top in ('proc', 'sys', 'usr') or os.path.islink('/' + top):
                    continue
                for root, dirs, files in os.walk('/' + top):
                    for name in files:
                        path = os.path.join(root, name)
                        if 'alice-token' in path:
                            found.append(path)
                        try:
                            if os.path.isfile(path) and os.path.getsize(path) < 1 << 20 and b'alice-token' in open(path, 'rb').read():
                                found.append(path)
                        except OSError:
                            pass
            commands = []
            for pid in filter(str.isdigit, os.listdir('/proc')):
                try:
                    commands.append(open('/proc/%s/cmdline' % pid, 'rb').read().replace(b'\0', b' ').decode())
                except OSError:
                    pass
            print('found', found)
            print('sleepers', [c for c in commands if '431' in c])
            print('own', any('warden_kernel' in c for c in commands))
            """), null, ct).WaitAsync(Wait, ct);

        Assert.Equal(ExecutionStatus.Success, probe.Status);
        Assert.Equal("found []\nsleepers []\nown True\n", Stdout(probe));
    }

    [Fact]
    public async Task ProcessCap_HoldsInsideTheSession_AndTheKernelLives()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(
            new SessionRequest("python", Owners.User("alice"), new LimitRequest { MaxProcesses = 24 }), ct).WaitAsync(Wait, ct);

        var bomb = await session.ExecuteAsync(new CellRequest("""
            import subprocess
            children = []
            error = None
            try:
                while len(children) < 200:
                    children.append(subprocess.Popen(['sleep', '60']))
            except OSError as e:
                error = e.errno
            for child in children:
                child.kill()
                child.wait()
            print(len(children), error)
            """), null, ct).WaitAsync(Wait, ct);

        var fields = Stdout(bomb).Trim().Split(' ');
        Assert.True(fields.Length == 2, $"unexpected output {Stdout(bomb)} {bomb.Detail}");
        Assert.InRange(int.Parse(fields[0], CultureInfo.InvariantCulture), 1, 23);
        Assert.Equal("11", fields[1]); // EAGAIN: fork refused
        var after = await session.ExecuteAsync(new CellRequest("print('alive')"), null, ct).WaitAsync(Wait, ct);
        Assert.Equal("alive\n", Stdout(after));
    }

    [Fact]
    public async Task WorkspaceFiles_BelongOnTheHostToTheSessionsOwnUnprivilegedUid()
    {
        if (Environment.UserName != "root") Assert.Skip("Per-session uids need root.");
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        var uids = new List<int>();
        // Both at once: a uid is only ever one live sandbox's (a later session may reuse a released one).
        await using var alice = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);
        await using var bob = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("bob")), ct).WaitAsync(Wait, ct);
        foreach (var session in new[] { alice, bob })
        {
            var made = await session.ExecuteAsync(new CellRequest("import os\nopen('mine.txt', 'w').write('x')\nprint(os.getuid(), os.getcwd())"), null, ct)
                .WaitAsync(Wait, ct);
            var inside = Stdout(made).Trim().Split(' ');
            // The workspace's host path: a tmpfs Warden mounted (bwrap, gVisor), or the volume the daemon mounted (docker).
            var mount = TestBackend.Name == "docker"
                ? (string)Assert.Single(DockerDaemon.Volumes($"session-{session.Id}-"))["Mountpoint"]!
                : Assert.Single(Leaks.Mounts(session.Id)).Split(' ')[4];
            var onHost = HostOwner(Path.Combine(mount, "mine.txt"));
            // bwrap shows the sandbox its own uid as 1000 (a user namespace); gVisor and docker show the host uid itself.
            if (TestBackend.Name is "gvisor" or "docker") Assert.Equal(inside[0], onHost.ToString(CultureInfo.InvariantCulture));
            Assert.NotEqual(0, onHost);
            Assert.Equal(onHost, HostOwner(mount));
            uids.Add(onHost);
        }
        // Every live session has a host uid of its own on every backend (docker leases one per session container from
        // the same range: per-uid kernel budgets such as inotify instances must not be shared across tenants).
        Assert.Equal(2, uids.Distinct().Count());
    }

    [Fact]
    public async Task KilledAndDeletedKernels_LeaveNoCgroupMountProcessOrRunscState()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        var session = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);
        await session.ExecuteAsync(new CellRequest("import subprocess\nsubprocess.Popen(['sleep', '300'])"), null, ct).WaitAsync(Wait, ct);
        if (TestBackend.Name == "gvisor") Assert.NotEmpty(RunscState(host, session.Id));

        // The first kernel ignores its interrupt and is killed; the second is deleted with the session.
        var stubborn = await session.ExecuteAsync(new CellRequest("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass", 1), null, ct)
            .WaitAsync(Wait, ct);
        Assert.True(stubborn.KernelLost);
        var next = await session.ExecuteAsync(new CellRequest("print('second')"), null, ct).WaitAsync(Wait, ct);
        Assert.Equal("second\n", Stdout(next));
        Assert.All(RunscState(host, session.Id), path => Assert.Contains($"session-{session.Id}-2", path, StringComparison.Ordinal));

        await host.Sessions.DeleteAsync(session.Id, Owners.Admin, ct).WaitAsync(Wait, ct);

        Assert.Empty(Leaks.Sandboxes(host.Instance, session.Id));
        Assert.Empty(Leaks.Mounts(session.Id));
        Assert.Empty(Leaks.Processes(session.Id));
        Assert.Empty(RunscState(host, session.Id));
    }

    /// <summary>gVisor's container records (runsc --root) and OCI bundles of a session; nothing on other backends.</summary>
    private static List<string> RunscState(SessionHost host, string sessionId)
    {
        if (host.Backend is not GvisorBackend gvisor) return [];
        var run = Path.GetDirectoryName(gvisor.StateRoot)!;
        return [.. Directory.EnumerateFileSystemEntries(gvisor.StateRoot).Concat(Directory.EnumerateDirectories(run, "bundle-*"))
            .Where(path => path.Contains($"session-{sessionId}", StringComparison.Ordinal))];
    }

    private static int HostOwner(string path)
    {
        var start = new ProcessStartInfo("stat") { RedirectStandardOutput = true, ArgumentList = { "-c", "%u", path } };
        using var process = Process.Start(start)!;
        var text = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return int.Parse(text.Trim(), CultureInfo.InvariantCulture);
    }

    private static string Stdout(CellResult result) =>
        string.Concat(result.Outputs.OfType<StreamOutput>().Where(o => o.Name == "stdout").Select(o => o.Text));
}
