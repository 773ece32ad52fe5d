using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Warden.Server.Auth;

namespace Warden.Server.Tests.Auth;

public sealed class ApiKeyTests
{
    private static readonly object Hello = new { language = "bash", code = "echo hi" };

    [Fact]
    public async Task AdminApi_CreateUseListRevoke_KeyLifecycle()
    {
        await using var server = await WardenTestServer.StartAsync(apiKey: "bootstrap-admin");
        var ct = TestContext.Current.CancellationToken;

        var (created, body) = await Json.PostAsync(server.Client, "/api/v1/admin/keys", new { name = "open-webui", scopes = new[] { "execute" } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var key = body.GetProperty("key").GetString()!;
        var id = body.GetProperty("id").GetString()!;
        Assert.StartsWith("wdn_" + id + "_", key);

        using var user = Client(server, key);
        var (run, result) = await Json.PostAsync(user, "/api/v1/execute", Hello);
        Assert.Equal(HttpStatusCode.OK, run.StatusCode);
        Assert.Equal("hi\n", result.GetProperty("stdout").GetString());
        // execute scope only: no key management
        Assert.Equal(HttpStatusCode.Forbidden, (await user.GetAsync("/api/v1/admin/keys", ct)).StatusCode);

        var list = await Json.ReadAsync(await server.Client.GetAsync("/api/v1/admin/keys", ct));
        var listed = Assert.Single(list.EnumerateArray(), k => k.GetProperty("id").GetString() == id);
        Assert.True(listed.GetProperty("active").GetBoolean());
        Assert.DoesNotContain(key, list.GetRawText());
        var stored = string.Concat(Directory.GetFiles(server.DataDirectory, "warden.db*").Select(f => File.ReadAllText(f)));
        // The secret is everything after "wdn_<id>_": it may itself contain '_' (base64url), so no Split.
        Assert.DoesNotContain(key[("wdn_" + id + "_").Length..], stored);

        Assert.Equal(HttpStatusCode.NoContent, (await server.Client.DeleteAsync($"/api/v1/admin/keys/{id}", ct)).StatusCode);
        var denied = await user.PostAsync("/api/v1/execute", Json.Body(Hello), ct);
        Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode);
        Assert.Equal("application/problem+json", denied.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Client.DeleteAsync($"/api/v1/admin/keys/{id}", ct)).StatusCode);
    }

    [Fact]
    public async Task StoredKeys_WithoutBootstrapKey_AuthenticationTurnsOn()
    {
        await using var server = await WardenTestServer.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        // Open server: no key anywhere yet.
        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostAsync("/api/v1/execute", Json.Body(Hello), ct)).StatusCode);

        var store = (ApiKeyStore)server.Services.GetService(typeof(ApiKeyStore))!;
        var admin = await store.CreateAsync("ops", [ApiKeyScopes.Admin], ct);

        Assert.Equal(HttpStatusCode.Unauthorized, (await server.Client.PostAsync("/api/v1/execute", Json.Body(Hello), ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/healthz", ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/api/v1/health", ct)).StatusCode);
        using var ops = Client(server, admin.Key);
        Assert.Equal(HttpStatusCode.OK, (await ops.PostAsync("/api/v1/execute", Json.Body(Hello), ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await ops.GetAsync("/metrics", ct)).StatusCode);
    }

    [Fact]
    public async Task AdminApi_UnknownScope_Returns400NamingIt()
    {
        await using var server = await WardenTestServer.StartAsync(apiKey: "bootstrap-admin");
        var (response, body) = await Json.PostAsync(server.Client, "/api/v1/admin/keys", new { name = "x", scopes = new[] { "root" } });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("root", body.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task JupyterApi_StoredExecuteKey_IsAcceptedAsToken()
    {
        await using var server = await WardenTestServer.StartAsync(apiKey: "bootstrap-admin");
        var ct = TestContext.Current.CancellationToken;
        var (_, body) = await Json.PostAsync(server.Client, "/api/v1/admin/keys", new { name = "jupyter", scopes = new[] { "execute" } });
        var key = body.GetProperty("key").GetString()!;
        using var anonymous = new HttpClient { BaseAddress = server.Address };

        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.GetAsync("/api/kernels", ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync($"/api/kernels?token={Uri.EscapeDataString(key)}", ct)).StatusCode);
        anonymous.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("token", key);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/api/kernels", ct)).StatusCode);
    }

    [Fact]
    public async Task ExecutionsApi_ExecuteKey_SeesOnlyItsOwnHistory()
    {
        await using var server = await WardenTestServer.StartAsync(apiKey: "bootstrap-admin");
        var ct = TestContext.Current.CancellationToken;
        var (_, a) = await Json.PostAsync(server.Client, "/api/v1/admin/keys", new { name = "a", scopes = new[] { "execute" } });
        using var clientA = Client(server, a.GetProperty("key").GetString()!);
        var (_, mine) = await Json.PostAsync(clientA, "/api/v1/execute", Hello);
        var (_, admins) = await Json.PostAsync(server.Client, "/api/v1/execute", Hello);

        var seen = await PollHistoryAsync(clientA, "/api/v1/executions", 1);
        var ids = seen.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetString()).ToList();
        Assert.Equal([mine.GetProperty("execution_id").GetString()], ids);
        Assert.Equal(HttpStatusCode.NotFound, (await clientA.GetAsync($"/api/v1/executions/{admins.GetProperty("execution_id").GetString()}", ct)).StatusCode);
        var all = await PollHistoryAsync(server.Client, "/api/v1/executions", 2);
        Assert.Equal(2, all.GetProperty("items").GetArrayLength());
    }

    internal static HttpClient Client(WardenTestServer server, string key)
    {
        var client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>History is written off the request path: wait (briefly) until the expected rows are there.</summary>
    internal static async Task<JsonElement> PollHistoryAsync(HttpClient client, string path, int atLeast)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var page = await Json.ReadAsync(await client.GetAsync(path, TestContext.Current.CancellationToken));
            if (page.GetProperty("items").GetArrayLength() >= atLeast || DateTime.UtcNow > deadline) return page;
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }
}
