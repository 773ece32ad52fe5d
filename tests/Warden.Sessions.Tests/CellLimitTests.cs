using Warden.Core.Execution;
using Warden.Core.Sessions;

namespace Warden.Sessions.Tests;

public sealed class CellLimitTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Timeout_InterruptsTheCell_AndTheKernelKeepsItsState()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);
        await session.ExecuteAsync(new CellRequest("kept = 'yes'"), null, ct).WaitAsync(Wait, ct);

        var slow = await session.ExecuteAsync(new CellRequest("import time\ntime.sleep(30)", TimeoutSeconds: 1), null, ct).WaitAsync(Wait, ct);

        Assert.Equal(ExecutionStatus.Timeout, slow.Status);
        Assert.Equal("KeyboardInterrupt", slow.Error?.Name);
        Assert.False(slow.KernelLost);
        Assert.InRange(slow.WallTime, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));
        var after = await session.ExecuteAsync(new CellRequest("kept"), null, ct).WaitAsync(Wait, ct);
        Assert.Equal("'yes'", Assert.Single(after.Outputs.OfType<ExecuteResultOutput>()).Data.GetProperty("text/plain").GetString());
    }

    [Fact]
    public async Task Timeout_CellIgnoringTheInterrupt_KillsTheKernel_AndTheNextCellGetsAFreshOne()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);
        await session.ExecuteAsync(new CellRequest("kept = 1"), null, ct).WaitAsync(Wait, ct);

        var stubborn = await session.ExecuteAsync(new CellRequest("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass", 1), null, ct)
            .WaitAsync(Wait, ct);

        Assert.Equal(ExecutionStatus.Timeout, stubborn.Status);
        Assert.True(stubborn.KernelLost);
        Assert.Contains("killed", stubborn.Detail);
        Assert.InRange(stubborn.WallTime, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(10));
        var next = await session.ExecuteAsync(new CellRequest("'kept' in globals()"), null, ct).WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Success, next.Status);
        Assert.Equal("False", Assert.Single(next.Outputs.OfType<ExecuteResultOutput>()).Data.GetProperty("text/plain").GetString());
        // Only the fresh kernel's cgroups remain (one per hierarchy): the killed one's were removed.
        var left = Leaks.Sandboxes(host.Instance, session.Id);
        Assert.NotEmpty(left);
        Assert.All(left, dir => Assert.EndsWith($"session-{session.Id}-2", dir));
    }

    [Fact]
    public async Task RunawayOutput_IsCappedAndTheCellInterrupted()
    {
        await using var host = await SessionHost.StartAsync(new() { ["Warden:Sessions:Default:MaxOutputBytes"] = "65536" });
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);

        var flood = await session.ExecuteAsync(new CellRequest("while True:\n    print('x' * 1000)"), null, ct).WaitAsync(Wait, ct);

        Assert.Equal(ExecutionStatus.OutputLimit, flood.Status);
        Assert.True(flood.OutputTruncated);
        Assert.False(flood.KernelLost);
        long stdout = flood.Outputs.OfType<StreamOutput>().Where(o => o.Name == "stdout").Sum(o => (long)o.Text.Length);
        Assert.InRange(stdout, 1, 65536);
        Assert.Contains(flood.Outputs.OfType<StreamOutput>(), o => o.Name == "stderr" && o.Text.Contains("output limit"));
        var after = await session.ExecuteAsync(new CellRequest("print('fine')"), null, ct).WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Success, after.Status);
    }

    [Fact]
    public async Task MemoryCap_IsPerSession_AndAnOomIsReportedAsMemoryLimit()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(
            new SessionRequest("python", Owners.User("alice"), new Core.Limits.LimitRequest { MemoryMb = 96 }), ct).WaitAsync(Wait, ct);

        var hog = await session.ExecuteAsync(new CellRequest("blob = b'x' * (400 * 1024 * 1024)"), null, ct).WaitAsync(Wait, ct);

        Assert.True(hog.Status is ExecutionStatus.MemoryLimit or ExecutionStatus.Error, $"status {hog.Status}: {hog.Detail}");
        if (hog.Status == ExecutionStatus.Error) Assert.Equal("MemoryError", hog.Error?.Name);
        else Assert.True(hog.KernelLost);
        var after = await session.ExecuteAsync(new CellRequest("1 + 1"), null, ct).WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Success, after.Status);
    }

    [Fact]
    public async Task CpuTimeAndPeakMemory_AreMeasuredPerCell()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);

        var busy = await session.ExecuteAsync(new CellRequest("import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\nbig = bytearray(80 * 1024 * 1024)\nbig[::4096] = b'x' * len(big[::4096])"), null, ct)
            .WaitAsync(Wait, ct);
        var quiet = await session.ExecuteAsync(new CellRequest("del big"), null, ct).WaitAsync(Wait, ct);

        Assert.Equal(ExecutionStatus.Success, busy.Status);
        Assert.InRange(busy.CpuTime, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(5));
        Assert.True(busy.PeakMemoryBytes >= 80L << 20, $"peak {busy.PeakMemoryBytes}");
        Assert.True(quiet.CpuTime < TimeSpan.FromMilliseconds(200), $"the second cell's CPU time must not include the first's ({quiet.CpuTime})");
    }

    [Fact]
    public async Task Interrupt_StopsARunningCell()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);
        var running = session.ExecuteAsync(new CellRequest("import time\ntime.sleep(30)"), null, ct);
        await SessionLifecycleTests.WaitUntilAsync(() => session.State == SessionState.Busy, ct);
        await Task.Delay(300, ct);
        await session.InterruptAsync(ct);
        var result = await running.WaitAsync(TimeSpan.FromSeconds(10), ct);
        Assert.Equal(ExecutionStatus.Error, result.Status);
        Assert.Equal("KeyboardInterrupt", result.Error?.Name);
    }

    [Fact]
    public async Task Interrupt_ReachesACellsOwnHandler_AndTheCellCarriesOn()
    {
        // An interrupt is a SIGINT to the kernel, not a kill: a cell that handles it keeps running to its end, and its
        // kernel keeps its state. (Two SIGINTs close together are merged by the kernel's pending-signal bit, so this
        // cannot tell whether the isolation machinery forwarded one too; the implementations spare it anyway.)
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = session.ExecuteAsync(new CellRequest("""
            import signal, time
            hits = []
            signal.signal(signal.SIGINT, lambda *args: hits.append(1))
            print('ready', flush=True)
            end = time.time() + 3
            while time.time() < end:
                time.sleep(0.05)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            print('hits', len(hits))
            """), (output, _) =>
        {
            if (output is StreamOutput { Text: var text } && text.StartsWith("ready", StringComparison.Ordinal)) ready.TrySetResult();
            return ValueTask.CompletedTask;
        }, ct);
        await ready.Task.WaitAsync(Wait, ct);
        await session.InterruptAsync(ct);

        var result = await running.WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Success, result.Status);
        Assert.Equal("ready\nhits 1\n", string.Concat(result.Outputs.OfType<StreamOutput>().Where(o => o.Name == "stdout").Select(o => o.Text)));
    }
}
