using System.Net;
using System.Text;
using System.Text.Json;

namespace Warden.Server.Tests.NativeApi;

/// <summary>A server whose egress ceiling names two test hosts (nothing is ever dialled: they resolve nowhere).</summary>
public sealed class EgressServer : IAsyncLifetime
{
    public WardenTestServer Server { get; private set; } = null!;

    public async ValueTask InitializeAsync() =>
        Server = await WardenTestServer.StartAsync(new() { ["Warden:Egress:Allow"] = "a.test,b.test:*", ["Warden:Audit:Enabled"] = "true" });

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// The request shapes of issue 19 on the native API: <c>"network": true</c> (the whole ceiling) or
/// <c>{"allow": [...]}</c> (a subset, else a 400 naming <c>network.allow[i]</c>), the ceiling in /api/v1/config, and the
/// run's egress usage in the result.
/// </summary>
public sealed class EgressApiTests(EgressServer fixture, SharedServer noEgress) : IClassFixture<EgressServer>, IClassFixture<SharedServer>
{
    private HttpClient Client => fixture.Server.Client;

    private static async Task<JsonElement> PostRawAsync(HttpClient client, string json)
    {
        var response = await client.PostAsync("/api/v1/execute", new StringContent(json, Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        var body = await Json.ReadAsync(response);
        Assert.True(response.StatusCode == HttpStatusCode.OK || response.Content.Headers.ContentType?.MediaType == "application/problem+json",
            $"{(int)response.StatusCode} {body}");
        return body;
    }

    [Fact]
    public async Task NetworkTrue_EmptyCeiling_400NamingTheSetting()
    {
        var body = await PostRawAsync(noEgress.Server.Client, """{"language":"python","code":"1","network":true}""");

        Assert.Equal(400, body.GetProperty("status").GetInt32());
        Assert.Equal("network", body.GetProperty("parameter").GetString());
        Assert.Contains("WARDEN_EGRESS_ALLOW is empty", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"allow":["a.test","c.test"]}""", "network.allow[1]", "'c.test' is not within WARDEN_EGRESS_ALLOW")]
    [InlineData("""{"allow":["*.a.test"]}""", "network.allow[0]", "not within WARDEN_EGRESS_ALLOW")]
    [InlineData("""{"allow":["a.test", 5]}""", "network.allow[1]", "must be a string")]
    [InlineData("""{"allow":"a.test"}""", "network.allow", "must be an array")]
    [InlineData("""{"deny":["a.test"]}""", "network.deny", "only allow")]
    [InlineData("""{}""", "network", "needs allow")]
    [InlineData("""[]""", "network", "must be true or false")]
    [InlineData("""{"allow":["a..test"]}""", "network.allow[0]", "not a host pattern")]
    public async Task NetworkAllow_Bad_400NamingThePlace(string network, string parameter, string detail)
    {
        var body = await PostRawAsync(Client, $$"""{"language":"python","code":"1","network":{{network}}}""");

        Assert.Equal(400, body.GetProperty("status").GetInt32());
        Assert.Equal(parameter, body.GetProperty("parameter").GetString());
        Assert.Contains(detail, body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotMatch(@"System\.|Warden\.", body.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task NetworkAllow_MoreThan64Patterns_400()
    {
        var patterns = string.Join(",", Enumerable.Range(0, 65).Select(_ => "\"a.test\""));
        var body = await PostRawAsync(Client, $$$"""{"language":"python","code":"1","network":{"allow":[{{{patterns}}}]}}""");

        Assert.Equal(400, body.GetProperty("status").GetInt32());
        Assert.Equal("network.allow", body.GetProperty("parameter").GetString());
    }

    [Fact]
    public async Task Config_ListsTheCeiling()
    {
        var response = await Client.GetAsync("/api/v1/config", TestContext.Current.CancellationToken);
        var body = await Json.ReadAsync(response);

        Assert.True(body.GetProperty("allow_network").GetBoolean());
        Assert.Equal(["a.test", "b.test:*"], body.GetProperty("egress_allow").EnumerateArray().Select(e => e.GetString()!).ToArray());

        var none = await Json.ReadAsync(await noEgress.Server.Client.GetAsync("/api/v1/config", TestContext.Current.CancellationToken));
        Assert.False(none.GetProperty("allow_network").GetBoolean());
        Assert.Equal(0, none.GetProperty("egress_allow").GetArrayLength());
    }

    /// <summary>
    /// The grant is the request's subset, not the ceiling: b.test is in the ceiling but not in the request, so the proxy
    /// refuses it (not_allowed) and the result counts one refusal and no connection.
    /// </summary>
    [Fact]
    public async Task NetworkAllow_Subset_IsTheGrant_ResultCountsTheRefusal()
    {
        if (!Environment.IsPrivilegedProcess) Assert.Skip("egress namespaces need Warden as root");
        const string code = """
            import urllib.request, urllib.error
            try:
                urllib.request.urlopen('http://b.test/', timeout=20)
                print('reached')
            except urllib.error.HTTPError as e:
                print(e.code, e.headers.get('X-Warden-Egress'))
            """;
        var (response, body) = await Json.PostAsync(Client, "/api/v1/execute", new { language = "python", code, network = new { allow = new[] { "a.test" } } });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("403 refused; reason=not_allowed\n", body.GetProperty("stdout").GetString());
        var egress = body.GetProperty("egress");
        Assert.Equal(0, egress.GetProperty("connections").GetInt32());
        Assert.Equal(1, egress.GetProperty("refused").GetInt32());
        Assert.Equal(0, egress.GetProperty("bytes_sent").GetInt64());

        // The refusal is in the audit log (an "egress" line naming the run) and in the metrics.
        string id = body.GetProperty("execution_id").GetString()!;
        var deadline = DateTime.UtcNow.AddSeconds(15);
        JsonElement? line = null;
        while (line is null && DateTime.UtcNow < deadline)
        {
            line = (await History.HistoryTests.AuditLinesAsync(fixture.Server.AuditLogPath, 1))
                .FirstOrDefault(l => l.GetProperty("event").GetString() == "egress" && l.GetProperty("run_id").GetString() == id) is { ValueKind: JsonValueKind.Object } found ? found : null;
            if (line is null) await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        Assert.NotNull(line);
        Assert.Equal("b.test", line.Value.GetProperty("host").GetString());
        Assert.Equal("refused", line.Value.GetProperty("decision").GetString());
        Assert.Equal("not_allowed", line.Value.GetProperty("reason").GetString());
        Assert.Equal("GET", line.Value.GetProperty("method").GetString());
        Assert.True(line.Value.TryGetProperty("principal", out _));
        var metrics = await (await Client.GetAsync("/metrics", TestContext.Current.CancellationToken)).Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.Contains(metrics.Split('\n'), l => l.StartsWith("warden_egress_connections_total{", StringComparison.Ordinal) && l.Contains("not_allowed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task NoNetwork_ResultHasNoEgress()
    {
        var (_, body) = await Json.PostAsync(Client, "/api/v1/execute", new { language = "python", code = "print(1)" });

        Assert.Equal(JsonValueKind.Null, body.GetProperty("egress").ValueKind);
    }
}

/// <summary>The old switch WARDEN_ALLOW_NETWORK=true starts a server whose ceiling is "*" (the alias), not the host's network.</summary>
public sealed class NetworkAliasServerTests
{
    [Fact]
    public async Task AllowNetworkTrue_CeilingIsStar()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:Limits:AllowNetwork"] = "true" });

        var body = await Json.ReadAsync(await server.Client.GetAsync("/api/v1/config", TestContext.Current.CancellationToken));

        Assert.True(body.GetProperty("allow_network").GetBoolean());
        Assert.Equal("*", Assert.Single(body.GetProperty("egress_allow").EnumerateArray()).GetString());
    }
}
