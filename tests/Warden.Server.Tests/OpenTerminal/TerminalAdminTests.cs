using System.Net.Http.Headers;
using System.Text.Json;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>
/// The orchestrator's admin routes (/terminal/api/v1/status, /api/v1/terminals, /api/v1/terminals/stop): its shapes,
/// admin keys only, and a stop that really ends the (policy, user) sandbox and nobody else's.
/// </summary>
public sealed class TerminalAdminTests(SharedTerminalServer shared) : IClassFixture<SharedTerminalServer>
{
    private TerminalTestServer Terminal => shared.Server;

    private HttpClient Admin()
    {
        var client = new HttpClient { BaseAddress = new Uri(Terminal.Server.Address, "/terminal/"), Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TerminalTestServer.ApiKey);
        return client;
    }

    private static async Task<(int Status, JsonElement Body)> SendAsync(HttpClient client, HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null) request.Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return ((int)response.StatusCode, text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default);
    }

    [Fact]
    public async Task StatusListAndStop_WithTheOrchestratorsShapes_StopEndsOnlyThatTerminal()
    {
        using var admin = Admin();
        var policy = "adm-" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(200, (await SendAsync(admin, HttpMethod.Put, $"api/v1/policies/{policy}", "{}")).Status);
        var (alice, bob) = ("alice-" + policy, "bob-" + policy);
        using var a = Terminal.For(alice);
        using var b = Terminal.For(bob);
        foreach (var (client, path) in new[] { (a, $"p/{policy}/"), (a, ""), (b, $"p/{policy}/") })
        {
            using var response = await client.Http.PostAsync(path + "execute?wait=20", Json.Body(new { command = "echo up > ~/up.txt; sleep 600" }),
                TestContext.Current.CancellationToken);
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }

        var (s, status) = await SendAsync(admin, HttpMethod.Get, "api/v1/status");
        Assert.Equal(200, s);
        Assert.True(status.GetProperty("status").GetBoolean());
        Assert.Equal(TestBackend.Name, status.GetProperty("backend").GetString());
        Assert.True(status.GetProperty("active_terminals").GetInt32() >= 3, status.ToString());
        Assert.True(status.GetProperty("policy_count").GetInt32() >= 1, status.ToString());
        Assert.Equal("1024Mi", status.GetProperty("max_memory").GetString());
        Assert.NotEmpty(status.GetProperty("allowed_images").EnumerateArray());
        foreach (var field in new[] { "image", "idle_timeout_minutes", "max_cpu", "max_storage", "active_websocket_connections" })
            Assert.True(status.TryGetProperty(field, out _), field);

        var (l, list) = await SendAsync(admin, HttpMethod.Get, "api/v1/terminals");
        Assert.Equal(200, l);
        var mine = list.EnumerateArray().Where(r => r.GetProperty("user_id").GetString() is { } u && (u == alice || u == bob)).ToList();
        Assert.Equal(3, mine.Count);
        Assert.Contains(mine, r => r.GetProperty("user_id").GetString() == alice && r.GetProperty("policy_id").GetString() == "default");
        Assert.All(mine, r => Assert.Equal("running", r.GetProperty("status").GetString()));
        Assert.All(mine, r => Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$", r.GetProperty("last_active_at").GetString()!));

        // Stop Alice's terminal under the policy: hers ends (her sleep is gone), Bob's and her plain one keep running.
        var (stop, stopped) = await SendAsync(admin, HttpMethod.Post, "api/v1/terminals/stop", $$"""{"user_id":"{{alice}}","policy_id":"{{policy}}"}""");
        Assert.Equal(200, stop);
        Assert.Equal(1, stopped.GetProperty("matched").GetInt32());
        Assert.Equal(1, stopped.GetProperty("stopped").GetInt32());
        Assert.Equal(0, stopped.GetProperty("skipped_active").GetInt32());
        var after = (await SendAsync(admin, HttpMethod.Get, "api/v1/terminals")).Body.EnumerateArray()
            .Where(r => r.GetProperty("user_id").GetString() is { } u && (u == alice || u == bob)).ToList();
        Assert.Equal(2, after.Count);
        Assert.DoesNotContain(after, r => r.GetProperty("user_id").GetString() == alice && r.GetProperty("policy_id").GetString() == policy);
        foreach (var (client, path, sleeping) in new[] { (a, $"p/{policy}/", 0), (a, "", 1), (b, $"p/{policy}/", 1) })
        {
            using var response = await client.Http.PostAsync(path + "execute?wait=30", Json.Body(new
            {
                command = "cat ~/up.txt; echo sleeps=$(for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c '^[s]leep 600')",
            }), TestContext.Current.CancellationToken);
            var output = TerminalClient.Output(JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement);
            Assert.True(output.Contains($"sleeps={sleeping}\n", StringComparison.Ordinal), $"{path}: {output}");
            Assert.Contains("up", output, StringComparison.Ordinal); // the home stays
        }

        Assert.Equal(404, (await SendAsync(admin, HttpMethod.Post, "api/v1/terminals/stop", """{"user_id":"nobody-at-all"}""")).Status);
        Assert.Equal(404, (await SendAsync(admin, HttpMethod.Post, "api/v1/terminals/stop", $$"""{"user_id":"{{bob}}","policy_id":"{{policy}}","context_id":"chat:1"}""")).Status);
        Assert.Equal(400, (await SendAsync(admin, HttpMethod.Post, "api/v1/terminals/stop", "{}")).Status);
        Assert.Equal(400, (await SendAsync(admin, HttpMethod.Post, "api/v1/terminals/stop", "not json")).Status);
        Assert.Equal(200, (await SendAsync(admin, HttpMethod.Post, "api/v1/terminals/stop", $$"""{"user_id":"{{alice}}"}""")).Status);
        Assert.Equal(200, (await SendAsync(admin, HttpMethod.Post, "api/v1/terminals/stop", $$"""{"user_id":"{{bob}}","policy_id":"{{policy}}"}""")).Status);
    }

    [Fact]
    public async Task AdminRoutes_RefuseNonAdmins()
    {
        using var admin = Admin();
        var (_, key) = await Json.PostAsync(Terminal.Server.Client, "/api/v1/admin/keys", new { name = "owui-admin-test", scopes = new[] { "execute" } });
        using var user = new HttpClient { BaseAddress = admin.BaseAddress };
        user.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key.GetProperty("key").GetString());
        user.DefaultRequestHeaders.Add("X-User-Id", "alice");
        using var anonymous = new HttpClient { BaseAddress = admin.BaseAddress };
        foreach (var (method, path, json) in new[]
        {
            (HttpMethod.Get, "api/v1/status", (string?)null), (HttpMethod.Get, "api/v1/terminals", null),
            (HttpMethod.Post, "api/v1/terminals/stop", """{"user_id":"alice"}"""),
        })
        {
            Assert.Equal(403, (await SendAsync(user, method, path, json)).Status);
            Assert.Equal(401, (await SendAsync(anonymous, method, path, json)).Status);
        }
    }
}
