using Warden.Core.Execution;
using Warden.Core.Sessions;

namespace Warden.Sessions.Tests;

public sealed class SessionLifecycleTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Execute_StateAcrossCells_StreamsResultAndError()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);

        var first = await session.ExecuteAsync(new CellRequest("import sys\nx = 20\nprint('out')\nprint('err', file=sys.stderr)\nx + 1"), null, ct).WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Success, first.Status);
        Assert.Equal(1, first.ExecutionCount);
        Assert.Equal("out\n", Assert.Single(first.Outputs.OfType<StreamOutput>(), o => o.Name == "stdout").Text);
        Assert.Equal("err\n", Assert.Single(first.Outputs.OfType<StreamOutput>(), o => o.Name == "stderr").Text);
        Assert.Equal("21", Assert.Single(first.Outputs.OfType<ExecuteResultOutput>()).Data.GetProperty("text/plain").GetString());

        var second = await session.ExecuteAsync(new CellRequest("x * 2"), null, ct).WaitAsync(Wait, ct);
        Assert.Equal("40", Assert.Single(second.Outputs.OfType<ExecuteResultOutput>()).Data.GetProperty("text/plain").GetString());

        var failed = await session.ExecuteAsync(new CellRequest("undefined_name"), null, ct).WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Error, failed.Status);
        Assert.Equal("NameError", failed.Error?.Name);
        Assert.False(failed.KernelLost);
    }

    [Fact]
    public async Task Outputs_AreStreamedToTheListenerAsProduced()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);
        var seen = new List<(string Text, TimeSpan At)>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = await session.ExecuteAsync(new CellRequest("import time\nprint('a')\ntime.sleep(0.5)\nprint('b')"),
            (output, _) => { if (output is StreamOutput s) seen.Add((s.Text, clock.Elapsed)); return ValueTask.CompletedTask; }, ct).WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Success, result.Status);
        Assert.Equal(["a\n", "b\n"], seen.Select(s => s.Text));
        Assert.True(seen[1].At - seen[0].At >= TimeSpan.FromMilliseconds(400), "the first line must arrive before the cell ends");
    }

    [Fact]
    public async Task Delete_LeavesNoCgroupMountOrProcess()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        var session = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);
        await session.ExecuteAsync(new CellRequest("import subprocess\nsubprocess.Popen(['sleep', '300'])"), null, ct).WaitAsync(Wait, ct);
        Assert.NotEmpty(Leaks.Sandboxes(host.Instance, session.Id));
        Assert.NotEmpty(Leaks.Processes(session.Id));

        await host.Sessions.DeleteAsync(session.Id, Owners.Admin, ct).WaitAsync(Wait, ct);

        Assert.Empty(Leaks.Sandboxes(host.Instance, session.Id));
        Assert.Empty(Leaks.Mounts(session.Id));
        Assert.Empty(Leaks.Processes(session.Id));
        Assert.Throws<SessionNotFoundException>(() => host.Sessions.Get(session.Id, Owners.Admin));
        await Assert.ThrowsAsync<SessionNotFoundException>(() => host.Sessions.DeleteAsync(session.Id, Owners.Admin, ct)).WaitAsync(Wait, ct);
    }

    [Fact]
    public async Task IdleSession_IsReapedWhenTheClockPassesTheIdleTimeout()
    {
        var clock = new ManualTimeProvider();
        await using var host = await SessionHost.StartAsync(new() { ["Warden:Sessions:IdleTimeoutSeconds"] = "60" }, clock);
        var ct = TestContext.Current.CancellationToken;
        var idle = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);
        clock.Advance(TimeSpan.FromSeconds(40));
        var used = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("bob")), ct).WaitAsync(Wait, ct);
        clock.Advance(TimeSpan.FromSeconds(30));

        // The reaper runs on the clock's timer; disposal is asynchronous, so wait for it to land.
        await WaitUntilAsync(() => !host.Sessions.Holds(idle.Id), ct);
        Assert.True(host.Sessions.Holds(used.Id), "a session idle for less than the timeout must stay");
        await WaitUntilAsync(() => Leaks.Sandboxes(host.Instance, idle.Id).Count == 0, ct);

        used.Touch();
        clock.Advance(TimeSpan.FromSeconds(59));
        Assert.True(host.Sessions.Holds(used.Id));
        clock.Advance(TimeSpan.FromSeconds(20));
        await WaitUntilAsync(() => host.Sessions.Count == 0, ct);
    }

    [Fact]
    public async Task MaxSessions_GlobalAndPerUser_AreEnforcedWith503Semantics()
    {
        await using var host = await SessionHost.StartAsync(new()
        {
            ["Warden:Sessions:MaxSessions"] = "2", ["Warden:Sessions:MaxSessionsPerUser"] = "1",
        });
        var ct = TestContext.Current.CancellationToken;
        await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);
        var perUser = await Assert.ThrowsAsync<CapacityExceededException>(() => host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct))
            .WaitAsync(Wait, ct);
        Assert.Contains("alice", perUser.Message);
        await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("bob")), ct).WaitAsync(Wait, ct);
        await Assert.ThrowsAsync<CapacityExceededException>(() => host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("carol")), ct)).WaitAsync(Wait, ct);
        Assert.Equal(2, host.Sessions.Count);
    }

    [Fact]
    public async Task Restart_GivesAFreshKernel()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);
        await session.ExecuteAsync(new CellRequest("kept = 1"), null, ct).WaitAsync(Wait, ct);
        await session.RestartAsync(ct).WaitAsync(Wait, ct);
        var result = await session.ExecuteAsync(new CellRequest("'kept' in globals()"), null, ct).WaitAsync(Wait, ct);
        Assert.Equal("False", Assert.Single(result.Outputs.OfType<ExecuteResultOutput>()).Data.GetProperty("text/plain").GetString());
        Assert.Equal(1, result.ExecutionCount);
    }

    [Fact]
    public async Task UnknownLanguage_IsRefusedBeforeAnythingStarts()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await Assert.ThrowsAsync<UnknownLanguageException>(() => host.Sessions.CreateAsync(new SessionRequest("cobol", Owners.User("alice")), ct)).WaitAsync(Wait, ct);
        Assert.Equal(0, host.Sessions.Count);
    }

    internal static async Task WaitUntilAsync(Func<bool> condition, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached within 20 s");
            await Task.Delay(20, cancellationToken);
        }
    }
}
