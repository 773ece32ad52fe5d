using System.Net.Http.Headers;
using System.Text.Json;
using Warden.Sessions.Tests.Egress;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>
/// A Terminals policy's <c>network.allow</c>: the policy's sandboxes reach the hosts it names through Warden's egress
/// proxy and nothing else; the same user on the plain surface, or under a policy without network, reaches nothing; a
/// pattern outside the server's ceiling is refused naming it. Runs on WARDEN_TEST_BACKEND; loopback only.
/// </summary>
[Collection(nameof(EgressNamespaceCount))]
public sealed class PolicyEgressTests
{
    [Fact]
    public async Task PolicyAllowlist_IsEnforcedByTheProxy_OnlyForThatPolicysSandboxes()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var origin = new EchoOrigin();
        await using var terminal = await TerminalTestServer.StartAsync(EgressProbe.Settings(origin));
        using var admin = new HttpClient { BaseAddress = new Uri(terminal.Server.Address, "/terminal/"), Timeout = TimeSpan.FromSeconds(60) };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TerminalTestServer.ApiKey);

        // Outside the ceiling (allowed.test:*): refused, naming the pattern, and nothing stored.
        var (outside, problem) = await PutAsync(admin, "pol-wide", """{"network":{"allow":["allowed.test:*","*.example.com"]}}""", ct);
        Assert.Equal(400, outside);
        Assert.Equal("network.allow[1]", problem.GetProperty("parameter").GetString());
        Assert.Equal(404, (int)(await admin.GetAsync("api/v1/policies/pol-wide", ct)).StatusCode);

        Assert.Equal(200, (await PutAsync(admin, "pol-net", """{"network":{"allow":["allowed.test:*"]}}""", ct)).Status);
        Assert.Equal(200, (await PutAsync(admin, "pol-none", """{"memory_limit":"256Mi"}""", ct)).Status);
        using var user = terminal.For("policy-egress-user");
        string mark = Guid.NewGuid().ToString("N");

        var allowed = TerminalClient.Stdout(await RunAsync(user, "p/pol-net/", "python3 - <<'PY'\n" + EgressProbe.Python(origin, mark) + "\nPY", ct));
        Assert.Contains($"allowed GET /{mark} HTTP/1.1", allowed, StringComparison.Ordinal);
        Assert.Contains("other 403", allowed, StringComparison.Ordinal);
        Assert.Contains("direct ConnectionRefusedError", allowed, StringComparison.Ordinal);

        // The same user without the policy, and under a policy without network: no proxy, nothing reached.
        foreach (var prefix in new[] { "", "p/pol-none/" })
        {
            var plain = TerminalClient.Stdout(await RunAsync(user, prefix, "python3 - <<'PY'\n" + EgressProbe.NoProxyPython(origin) + "\nPY", ct));
            Assert.Contains("proxy None", plain, StringComparison.Ordinal);
            Assert.DoesNotContain("direct reached", plain, StringComparison.Ordinal);
        }
        Assert.Equal([$"GET /{mark} HTTP/1.1"], origin.Requests);
    }

    private static async Task<(int Status, JsonElement Body)> PutAsync(HttpClient admin, string id, string json, CancellationToken ct)
    {
        using var content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        using var response = await admin.PutAsync($"api/v1/policies/{id}", content, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        return ((int)response.StatusCode, text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default);
    }

    private static async Task<JsonElement> RunAsync(TerminalClient user, string prefix, string command, CancellationToken ct)
    {
        using var response = await user.Http.PostAsync($"{prefix}execute?wait=60", Json.Body(new { command }), ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.IsSuccessStatusCode, $"{prefix}execute: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
