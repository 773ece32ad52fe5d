using System.Collections.Concurrent;
using Warden.Core.Egress;
using Warden.Core.Execution;
using Warden.Core.Sessions;

namespace Warden.Sessions.Tests.Egress;

/// <summary>
/// A session created with network reaches what its policy names through Warden's proxy for its whole life (a restarted
/// kernel too), nothing else; each connection is audited under the session's owner; deleting the session removes its
/// egress namespace. Runs on <c>WARDEN_TEST_BACKEND</c>; loopback only.
/// </summary>
[Collection(nameof(EgressNamespaceCount))]
public sealed class SessionEgressTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Session_WithNetwork_ReachesAllowedOnly_AuditedUnderOwner_NamespaceGoneAfterDelete()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var origin = new EchoOrigin();
        var records = new ConcurrentQueue<EgressRecord>();
        await using var host = await SessionHost.StartAsync(EgressProbe.Settings(origin), configure: EgressProbe.Audit(records));
        var owner = Owners.User("alice");
        int before = EgressProbe.NamespaceHandles();

        var session = await host.Sessions.CreateAsync(new SessionRequest("python", owner, Network: true), ct).WaitAsync(Wait, ct);
        Assert.Equal(before + 1, EgressProbe.NamespaceHandles());

        string mark = Guid.NewGuid().ToString("N");
        var first = await RunAsync(session, EgressProbe.Python(origin, mark), ct);
        Assert.Contains($"allowed GET /{mark} HTTP/1.1", first, StringComparison.Ordinal);
        Assert.Contains("other 403", first, StringComparison.Ordinal);
        Assert.Contains("direct ConnectionRefusedError", first, StringComparison.Ordinal);
        Assert.Equal([$"GET /{mark} HTTP/1.1"], origin.Requests);

        // A restarted kernel is a new sandbox with its own namespace and grant: the old grant was revoked with the old
        // sandbox, and the new one still reaches the allowed host.
        await session.RestartAsync(ct).WaitAsync(Wait, ct);
        Assert.Equal(before + 1, await EgressProbe.NamespaceHandlesAsync(before + 1, ct));
        string again = Guid.NewGuid().ToString("N");
        var second = await RunAsync(session, EgressProbe.Python(origin, again), ct);
        Assert.Contains($"allowed GET /{again} HTTP/1.1", second, StringComparison.Ordinal);
        Assert.Contains("other 403", second, StringComparison.Ordinal);

        await host.Sessions.DeleteAsync(session.Id, Owners.Admin, ct).WaitAsync(Wait, ct);
        Assert.Equal(before, await EgressProbe.NamespaceHandlesAsync(before, ct));

        // Every connection is audited under the owner and the kernel that made it: two allowed, two refused.
        var mine = records.Where(r => r.RunId.StartsWith(session.Id + "-", StringComparison.Ordinal)).ToList();
        Assert.All(mine, r => Assert.Equal(owner.ToString(), r.Principal));
        Assert.Equal(2, mine.Count(r => r.Allowed && r.Host == "allowed.test"));
        Assert.Equal(2, mine.Count(r => !r.Allowed && r.Host == "other.test" && r.Reason == EgressReasons.NotAllowed));
        Assert.Equal(2, mine.Select(r => r.RunId).Distinct().Count());
        Assert.Equal(4, records.Count);
    }

    [Fact]
    public async Task Session_WithoutNetwork_HasNoProxyAndReachesNothing()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var origin = new EchoOrigin();
        await using var host = await SessionHost.StartAsync(EgressProbe.Settings(origin));
        int before = EgressProbe.NamespaceHandles();
        await using var session = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("bob")), ct).WaitAsync(Wait, ct);
        Assert.Equal(before, EgressProbe.NamespaceHandles());

        var output = await RunAsync(session, EgressProbe.NoProxyPython(origin), ct);

        Assert.Contains("proxy None", output, StringComparison.Ordinal);
        // Without network the sandbox may not even open an inet socket (seccomp: PermissionError); it never connects.
        Assert.Contains("direct ", output, StringComparison.Ordinal);
        Assert.DoesNotContain("direct reached", output, StringComparison.Ordinal);
        Assert.Equal(0, origin.Connections);
    }

    [Theory]
    [InlineData("*.github.com")]
    [InlineData("other.test")]
    public async Task Session_AllowOutsideTheCeiling_RefusedNamingThePattern(string pattern)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var origin = new EchoOrigin();
        await using var host = await SessionHost.StartAsync(EgressProbe.Settings(origin));
        int before = EgressProbe.NamespaceHandles();

        var e = await Assert.ThrowsAsync<InvalidRequestException>(() =>
            host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("carol"), Network: true, NetworkAllow: ["allowed.test", pattern]), ct));

        Assert.Equal("network.allow[1]", e.Parameter);
        Assert.Equal(0, host.Sessions.Count);
        Assert.Equal(before, EgressProbe.NamespaceHandles());
    }

    private static async Task<string> RunAsync(Session session, string code, CancellationToken ct)
    {
        var result = await session.ExecuteAsync(new CellRequest(code), null, ct).WaitAsync(Wait, ct);
        var stdout = string.Concat(result.Outputs.OfType<StreamOutput>().Where(o => o.Name == "stdout").Select(o => o.Text));
        Assert.True(result.Status == ExecutionStatus.Success, $"{result.Status}: {stdout} {result.Error}");
        return stdout;
    }
}
