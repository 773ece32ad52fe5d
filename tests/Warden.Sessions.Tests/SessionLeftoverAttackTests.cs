using System.Text;
using Warden.Core.Limits;
using Warden.Core.Sandboxing;

namespace Warden.Sessions.Tests;

/// <summary>
/// Attacks on what a long-lived sandbox leaves on the host, on whichever backend <see cref="TestBackend"/> names: output
/// floods that must not land on the host's disk nor stall the program, and starts abandoned part-way (a client that
/// disconnects while its kernel starts) that must not leave a running sandbox nobody owns.
/// </summary>
public sealed class SessionLeftoverAttackTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private const int FloodMiB = 48;

    [Fact]
    public async Task OutputFlood_NeverLandsOnTheHostsDisk_AndEndlessStderrNeverStallsTheProgram()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        var name = Guid.NewGuid().ToString("N")[..16];
        // 48 MiB on each stream, stderr first (nobody reads it but the sandbox's bounded tail), then a marker. A daemon
        // that logs the container's output keeps every byte in a file on the host, for the life of the container.
        var program = $$"""
            import os
            def write_all(fd, data):
                # A pipe may take less than asked (gVisor's often does): the rest is written, not dropped.
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            chunk = b'e' * (1 << 20)
            for _ in range({{FloodMiB}}):
                write_all(2, chunk)
            chunk = b'o' * (1 << 20)
            for _ in range({{FloodMiB}}):
                write_all(1, chunk)
            write_all(1, b'\ndone\n')
            os.read(0, 1)
            """;
        var spec = new SessionSpec(name + "-1", new SandboxCommand(["/usr/bin/python3", "-I", "-c", program],
            new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin" }, []), SandboxLimits.Generous(), new Dictionary<string, byte[]>());
        var sandbox = await ((ISessionBackend)host.Backend).StartSessionAsync(spec, ct).AsTask().WaitAsync(Wait, ct);
        try
        {
            var stdout = sandbox.Output;
            var buffer = new byte[1 << 16];
            long total = 0;
            var tail = new StringBuilder();
            while (!tail.ToString().EndsWith("done\n", StringComparison.Ordinal))
            {
                int n = await stdout.ReadAsync(buffer, ct).AsTask().WaitAsync(Wait, ct);
                Assert.True(n > 0, $"stdout ended after {total} bytes; stderr: {sandbox.RecentErrors[^Math.Min(200, sandbox.RecentErrors.Length)..]}");
                total += n;
                tail.Append(Encoding.ASCII.GetString(buffer, 0, n));
                if (tail.Length > 64) tail.Remove(0, tail.Length - 64);
            }
            Assert.Equal(((long)FloodMiB << 20) + "\ndone\n".Length, total);
            Assert.InRange(sandbox.RecentErrors.Length, 1, 64 * 1024);

            if (TestBackend.Name == "docker")
            {
                var container = Assert.Single(DockerDaemon.Containers($"session-{name}-"));
                var log = (string?)DockerDaemon.Inspect((string)container["Id"]!)["LogPath"] ?? "";
                long logged = log.Length > 0 && File.Exists(log) ? new FileInfo(log).Length : 0;
                Assert.True(logged < 1 << 20, $"the daemon kept {logged} bytes of the sandbox's output on the host, in {log}");
            }
        }
        finally
        {
            await sandbox.DisposeAsync().AsTask().WaitAsync(Wait, ct);
        }
        Assert.Empty(Leaks.Sandboxes(host.Instance, name));
        Assert.Empty(Leaks.Processes(name));
    }

    /// <summary>
    /// A start abandoned at every point (the caller's token fires after 0 ms, 5 ms, … while the backend creates,
    /// attaches and starts): whether it threw or returned a sandbox (then disposed), nothing of it may be left, not even
    /// a moment later — a container the daemon finished creating after the caller gave up is a kernel nobody owns.
    /// </summary>
    [Fact]
    public async Task StartAbandonedAtAnyPoint_LeavesNoSandboxVolumeOrProcess()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        var name = Guid.NewGuid().ToString("N")[..16];
        var backend = (ISessionBackend)host.Backend;
        int[] delays = [0, 1, 2, 5, 10, 20, 40, 80, 160, 320];
        int abandoned = 0;
        for (int i = 0; i < delays.Length; i++)
        {
            var spec = new SessionSpec($"{name}-{i + 1}", new SandboxCommand(["/bin/sh", "-c", "sleep 300 & exec cat"],
                new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin" }, []), SandboxLimits.Generous(), new Dictionary<string, byte[]> { ["s.txt"] = "x"u8.ToArray() });
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cancel.CancelAfter(delays[i]);
            try
            {
                var sandbox = await backend.StartSessionAsync(spec, cancel.Token).AsTask().WaitAsync(Wait, ct);
                await sandbox.DisposeAsync().AsTask().WaitAsync(Wait, ct);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                abandoned++;
            }
        }
        // The daemon's calls take long enough for some token to fire between them; bwrap's start does not look at the
        // token once it has begun (every start completes and is disposed above), so there only the leak checks apply.
        if (TestBackend.Name == "docker") Assert.True(abandoned > 0, "no start was abandoned part-way: the attack did not happen");

        // A daemon may finish a create the caller no longer waits for: look again a little later.
        await Task.Delay(TimeSpan.FromSeconds(2), ct);
        Assert.Empty(Leaks.Sandboxes(host.Instance, name));
        Assert.Empty(Leaks.Mounts(name));
        Assert.Empty(Leaks.Processes(name));
    }

    /// <summary>
    /// Sessions created and deleted in tight loops on three workers: each deleted twice at once while a cell floods its
    /// output, or deleted while its kernel is still starting. Nothing of any may be left, and no slot quarantined.
    /// </summary>
    [Fact]
    public async Task CreateDeleteLoops_WithConcurrentDeletes_AndDeletesMidStart_LeaveNothing()
    {
        await using var host = await SessionHost.StartAsync(new() { ["Warden:MaxConcurrent"] = "3" });
        var ct = TestContext.Current.CancellationToken;
        var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
        int deletedMidStart = 0;

        async Task Worker(int worker)
        {
            for (int round = 0; round < 4; round++)
            {
                var owner = Owners.User($"user{worker}");
                if (round % 2 == 1)
                {
                    // Deleted as soon as it exists, while its kernel starts.
                    var known = host.Sessions.AllIds().ToHashSet();
                    var creating = host.Sessions.CreateAsync(new Warden.Core.Sessions.SessionRequest("python", owner), ct);
                    string? id = null;
                    while (id is null && !creating.IsCompleted)
                    {
                        id = host.Sessions.AllIds().FirstOrDefault(i => !known.Contains(i) && host.Sessions.List(Owners.Admin).Any(s => s.Id == i && s.Owner == owner));
                        if (id is null) await Task.Delay(1, ct);
                    }
                    if (id is not null)
                    {
                        ids.Add(id);
                        if (!creating.IsCompleted) Interlocked.Increment(ref deletedMidStart);
                        try { await host.Sessions.DeleteAsync(id, Owners.Admin, ct).WaitAsync(Wait, ct); }
                        catch (Warden.Core.Execution.SessionNotFoundException) { }
                    }
                    try
                    {
                        var made = await creating.WaitAsync(Wait, ct);
                        ids.Add(made.Id);
                        await made.DisposeAsync().AsTask().WaitAsync(Wait, ct);
                    }
                    catch (Exception e) when (e is not TimeoutException && !ct.IsCancellationRequested)
                    {
                        // Deleted while starting: the start may fail any way it likes, but must end and leave nothing.
                    }
                    continue;
                }
                var session = await host.Sessions.CreateAsync(new Warden.Core.Sessions.SessionRequest("python", owner), ct).WaitAsync(Wait, ct);
                ids.Add(session.Id);
                var flooding = session.ExecuteAsync(new Warden.Core.Sessions.CellRequest("import sys\nwhile True: sys.stdout.write('x' * 65536); sys.stderr.write('y' * 65536)"), null, ct);
                await Task.Delay(100, ct);
                var deletes = Enumerable.Range(0, 2).Select(async _ =>
                {
                    try { await host.Sessions.DeleteAsync(session.Id, Owners.Admin, ct); }
                    catch (Warden.Core.Execution.SessionNotFoundException) { }
                });
                await Task.WhenAll(deletes).WaitAsync(Wait, ct);
                try { await flooding.WaitAsync(Wait, ct); }
                catch (Exception e) when (e is not TimeoutException && !ct.IsCancellationRequested) { }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 3).Select(Worker)).WaitAsync(TimeSpan.FromMinutes(5), ct);

        Assert.True(deletedMidStart > 0, "no session was deleted while it started: that attack did not happen");
        await Task.Delay(TimeSpan.FromSeconds(1), ct);
        Assert.Empty(host.Sessions.AllIds());
        foreach (var id in ids.Distinct())
        {
            Assert.Empty(Leaks.Sandboxes(host.Instance, id));
            Assert.Empty(Leaks.Mounts(id));
            Assert.Empty(Leaks.Processes(id));
        }
        Assert.Equal(0, host.Backend.Status().Slots?.Quarantined ?? 0);
    }

    /// <summary>
    /// A cell that closes the kernel's stdout and stderr and leaves a child running, one that closes the kernel's stdin,
    /// or one that ignores SIGINT and never ends: each must end within its timeout plus the session's grace, the session
    /// must stay usable or get a fresh kernel, and deleting it must leave nothing.
    /// </summary>
    [Theory]
    [InlineData("import os, subprocess\nsubprocess.Popen(['sleep', '300'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\nos.close(1)\nos.close(2)\nimport time\ntime.sleep(300)")]
    [InlineData("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: time.sleep(1)")]
    [InlineData("import os, time\nos.close(0)\ntime.sleep(300)")]
    public async Task CellThatCutsItsChannelOrIgnoresInterrupts_EndsBounded_AndDeleteLeavesNothing(string code)
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        var session = await host.Sessions.CreateAsync(new Warden.Core.Sessions.SessionRequest("python", Owners.User("mallory")), ct).WaitAsync(Wait, ct);
        var started = System.Diagnostics.Stopwatch.StartNew();
        var result = await session.ExecuteAsync(new Warden.Core.Sessions.CellRequest(code, TimeoutSeconds: 2), null, ct).WaitAsync(Wait, ct);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(30), $"the cell took {started.Elapsed} to end");
        Assert.NotEqual(Warden.Core.Execution.ExecutionStatus.Success, result.Status);

        // Usable afterwards: the kernel survived (its own fds 1 and 2 may be closed, so nothing printed), or the next
        // cell gets a fresh one.
        var after = await session.ExecuteAsync(new Warden.Core.Sessions.CellRequest("x = 6 * 7"), null, ct).WaitAsync(Wait, ct);
        Assert.True(after.Status == Warden.Core.Execution.ExecutionStatus.Success, $"after {result.Status} (lost {result.KernelLost}): {after.Status} {after.Detail}");

        await host.Sessions.DeleteAsync(session.Id, Owners.Admin, ct).WaitAsync(Wait, ct);
        Assert.Empty(Leaks.Sandboxes(host.Instance, session.Id));
        Assert.Empty(Leaks.Mounts(session.Id));
        Assert.Empty(Leaks.Processes(session.Id));
    }

    /// <summary>
    /// An earlier cell's OOM kill (a child, the kernel survived) must not be charged to a later cell: a kernel that then
    /// kills itself is "killed", not "memory_limit", and a later real OOM of the kernel itself is still "memory_limit".
    /// </summary>
    [Fact]
    public async Task AnEarlierCellsOomKill_IsNeverChargedToALaterCell()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(
            new Warden.Core.Sessions.SessionRequest("python", Owners.User("mallory"), new LimitRequest { MemoryMb = 128 }), ct).WaitAsync(Wait, ct);

        var child = await session.ExecuteAsync(new Warden.Core.Sessions.CellRequest(
            "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'b = bytearray(400 << 20); b[::4096] = b\"x\" * len(b[::4096])'])"), null, ct).WaitAsync(Wait, ct);
        Assert.Equal(Warden.Core.Execution.ExecutionStatus.MemoryLimit, child.Status);
        // On gVisor the OOM killer takes the Sentry, which shares the cgroup (docs/sandbox-spec.md): the kernel is lost
        // there and the next cell starts a fresh one, whose counters must not carry this OOM either.
        if (TestBackend.Name != "gvisor") Assert.False(child.KernelLost, child.Detail);

        var suicide = await session.ExecuteAsync(new Warden.Core.Sessions.CellRequest("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"), null, ct)
            .WaitAsync(Wait, ct);
        Assert.True(suicide.KernelLost, suicide.Detail);
        Assert.True(suicide.Status == Warden.Core.Execution.ExecutionStatus.Killed, $"{suicide.Status}: {suicide.Detail}");

        var hog = await session.ExecuteAsync(new Warden.Core.Sessions.CellRequest("b = bytearray(400 << 20)\nb[::4096] = b'x' * len(b[::4096])"), null, ct)
            .WaitAsync(Wait, ct);
        Assert.True(hog.Status == Warden.Core.Execution.ExecutionStatus.MemoryLimit, $"{hog.Status}: {hog.Detail}");
    }
}
