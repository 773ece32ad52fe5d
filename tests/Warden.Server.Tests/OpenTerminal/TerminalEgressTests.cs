using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Ownership;
using Warden.Core.Terminals;
using Warden.Sessions.Tests.Egress;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>
/// Open Terminal users and egress: with <c>Warden:Terminal:Network</c> a user's sandbox reaches the allowed host through
/// Warden's proxy and nothing else, each connection audited under that user; when the sandbox stops (reaped when idle)
/// its grant is revoked and its namespace removed. Runs on WARDEN_TEST_BACKEND; loopback only.
/// </summary>
[Collection(nameof(EgressNamespaceCount))]
public sealed class TerminalEgressTests
{
    [Theory]
    [InlineData("true")]
    [InlineData("allowed.test:*")] // a pattern list; without ":*" only ports 80 and 443 would match
    public async Task UserSandbox_ReachesAllowedOnly_AuditedUnderUser_NamespaceGoneWhenStopped(string network)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var origin = new EchoOrigin();
        var settings = EgressProbe.Settings(origin);
        settings["Warden:Terminal:Network"] = network;
        settings["Warden:Terminal:IdleTimeoutSeconds"] = "2";
        settings["Warden:Audit:Enabled"] = "true";
        await using var terminal = await TerminalTestServer.StartAsync(settings);
        int before = EgressProbe.NamespaceHandles();
        using var user = terminal.For("egress-user");
        string mark = Guid.NewGuid().ToString("N");

        var result = await user.RunAsync("python3 - <<'PY'\n" + EgressProbe.Python(origin, mark) + "\nPY", wait: 60);

        var output = TerminalClient.Stdout(result);
        Assert.Contains($"allowed GET /{mark} HTTP/1.1", output, StringComparison.Ordinal);
        Assert.Contains("other 403", output, StringComparison.Ordinal);
        Assert.Contains("direct ConnectionRefusedError", output, StringComparison.Ordinal);
        Assert.Equal([$"GET /{mark} HTTP/1.1"], origin.Requests);
        Assert.Equal(before + 1, EgressProbe.NamespaceHandles());

        // Idle: the sandbox stops, and with it the grant and the namespace.
        var manager = terminal.Server.Services.GetRequiredService<TerminalManager>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (manager.RunningCount > 0 && DateTime.UtcNow < deadline) await Task.Delay(250, ct);
        Assert.Equal(0, manager.RunningCount);
        Assert.Equal(before, await EgressProbe.NamespaceHandlesAsync(before, ct));

        string principal = new Principal(Principal.ServerTenant, "egress-user").ToString();
        var lines = (await History.HistoryTests.AuditLinesAsync(terminal.Server.AuditLogPath, 2))
            .Where(l => l.TryGetProperty("event", out var e) && e.GetString() == "egress").ToList();
        Assert.Equal(2, lines.Count);
        Assert.All(lines, l => Assert.Equal(principal, l.GetProperty("principal").GetString()));
        Assert.All(lines, l => Assert.StartsWith("term-", l.GetProperty("run_id").GetString(), StringComparison.Ordinal));
        Assert.Contains(lines, l => l.GetProperty("host").GetString() == "allowed.test" && l.GetProperty("decision").GetString() == "allowed");
        Assert.Contains(lines, l => l.GetProperty("host").GetString() == "other.test" && l.GetProperty("reason").GetString() == "not_allowed");
    }

    [Fact]
    public async Task WithoutNetwork_UserSandbox_HasNoProxyAndReachesNothing()
    {
        await using var origin = new EchoOrigin();
        await using var terminal = await TerminalTestServer.StartAsync(EgressProbe.Settings(origin));
        int before = EgressProbe.NamespaceHandles();
        using var user = terminal.For("plain-user");

        var result = await user.RunAsync("python3 - <<'PY'\n" + EgressProbe.NoProxyPython(origin) + "\nPY", wait: 60);

        var output = TerminalClient.Stdout(result);
        Assert.Contains("proxy None", output, StringComparison.Ordinal);
        Assert.DoesNotContain("direct reached", output, StringComparison.Ordinal);
        Assert.Equal(0, origin.Connections);
        Assert.Equal(before, EgressProbe.NamespaceHandles());
    }
}
