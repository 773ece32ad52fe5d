using System.Globalization;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Core.Sessions;

namespace Warden.Sessions.Tests;

/// <summary>
/// Warm kernels (Warden:Sessions:WarmKernels): a session of the default kernel and limits starts on a kernel started
/// ahead of it; a warm kernel is used once and never handed to anyone else; warm kernels count in the memory budget.
/// </summary>
public sealed class WarmKernelTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    /// <summary>Seconds since the kernel process started, as the sandbox's own /proc sees it.</summary>
    private const string KernelAge = """
        import os
        with open('/proc/self/stat') as f: started = int(f.read().rsplit(')', 1)[1].split()[19])
        with open('/proc/uptime') as f: up = float(f.read().split()[0])
        print(round(up - started / os.sysconf('SC_CLK_TCK'), 3))
        """;

    private static readonly TimeSpan Aged = TimeSpan.FromSeconds(3);

    private static Task<SessionHost> StartAsync(Dictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Warden:Sessions:WarmKernels"] = "1", ["Warden:Pool:Enabled"] = "false",
            ["Warden:Sessions:Default:MemoryMb"] = "256",
        };
        foreach (var (k, v) in extra ?? []) settings[k] = v;
        return SessionHost.StartAsync(settings);
    }

    private static async Task WaitForWarmAsync(SessionHost host, int count, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (host.Sessions.WarmKernels != count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{host.Sessions.WarmKernels} warm kernels after {Wait.TotalSeconds} s, expected {count}");
            await Task.Delay(50, ct);
        }
    }

    private static async Task<double> AgeAsync(Session session, CancellationToken ct)
    {
        var result = await session.ExecuteAsync(new CellRequest(KernelAge), null, ct).WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Success, result.Status);
        return double.Parse(Assert.Single(result.Outputs.OfType<StreamOutput>()).Text, CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Create_DefaultKernelAndLimits_StartsOnTheKernelStartedAhead()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var host = await StartAsync();
        await WaitForWarmAsync(host, 1, ct);
        await Task.Delay(Aged, ct);

        await using var session = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);

        // Older than the wait: it was started before the session was asked for (a cold kernel is a fraction of a second old).
        Assert.True(await AgeAsync(session, ct) >= Aged.TotalSeconds, "the session's kernel must be the warm one");
        // Taken, so the pool starts the next one.
        await WaitForWarmAsync(host, 1, ct);
    }

    [Fact]
    public async Task Create_OtherLimits_StartsItsOwnKernelAndLeavesTheWarmOne()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var host = await StartAsync();
        await WaitForWarmAsync(host, 1, ct);
        await Task.Delay(Aged, ct);

        await using var session = await host.Sessions.CreateAsync(
            new SessionRequest("python", Owners.User("alice"), new LimitRequest { MemoryMb = 300 }), ct).WaitAsync(Wait, ct);

        Assert.True(await AgeAsync(session, ct) < Aged.TotalSeconds, "a session with limits of its own must not get the warm kernel");
        Assert.Equal(1, host.Sessions.WarmKernels);
    }

    [Fact]
    public async Task WarmKernel_UsedOnce_TheNextPrincipalGetsAFreshKernel()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var host = await StartAsync();
        await WaitForWarmAsync(host, 1, ct);
        var alice = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);
        var planted = await alice.ExecuteAsync(new CellRequest("secret = 'alice-secret'\nopen('/tmp/alice-mark', 'w').write('x')\nsecret"), null, ct)
            .WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Success, planted.Status);
        await host.Sessions.DeleteAsync(alice.Id, Owners.Admin, ct).WaitAsync(Wait, ct);
        await WaitForWarmAsync(host, 1, ct);

        await using var bob = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("bob")), ct).WaitAsync(Wait, ct);
        var probe = await bob.ExecuteAsync(new CellRequest("import os\nprint('secret' in globals(), os.path.exists('/tmp/alice-mark'))"), null, ct)
            .WaitAsync(Wait, ct);

        Assert.Equal(ExecutionStatus.Success, probe.Status);
        Assert.Equal("False False\n", Assert.Single(probe.Outputs.OfType<StreamOutput>()).Text);
    }

    [Fact]
    public async Task WarmKernels_HoldTheirMemoryInTheBudget_TheSessionTakesItOver()
    {
        var ct = TestContext.Current.CancellationToken;
        // Room for one 256 MB kernel, not two.
        await using var host = await StartAsync(new() { ["Warden:MemoryBudgetMb"] = "400" });
        await WaitForWarmAsync(host, 1, ct);

        // The warm kernel's reservation becomes the session's: admitted although the budget holds only one.
        await using var alice = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Success, (await alice.ExecuteAsync(new CellRequest("1"), null, ct).WaitAsync(Wait, ct)).Status);
        // No room for a second one, warm or not.
        await Task.Delay(TimeSpan.FromSeconds(1), ct);
        Assert.Equal(0, host.Sessions.WarmKernels);
        await Assert.ThrowsAsync<CapacityExceededException>(() => host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("bob")), ct));

        // The session gone, its memory is free again and a warm kernel is started in it.
        await host.Sessions.DeleteAsync(alice.Id, Owners.Admin, ct).WaitAsync(Wait, ct);
        await WaitForWarmAsync(host, 1, ct);
    }

    [Fact]
    public async Task Dispose_DestroysTheWarmKernels()
    {
        var ct = TestContext.Current.CancellationToken;
        var host = await StartAsync();
        var instance = host.Instance;
        await WaitForWarmAsync(host, 1, ct);
        // Warm sandboxes are named session-warm-*: the leak checks find them by that prefix (on docker, the session label).
        Assert.NotEmpty(Leaks.Sandboxes(instance, "warm"));
        var processes = Leaks.Processes("warm", instance);
        Assert.NotEmpty(processes);

        await host.DisposeAsync();

        Assert.Empty(Leaks.Sandboxes(instance, "warm"));
        Assert.Empty(Leaks.Processes("warm", instance).Intersect(processes));
    }
}
