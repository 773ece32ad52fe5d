using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text.Json;
using Warden.Server.Auth;
using Warden.Server.Tests.Cluster;

namespace Warden.Server.Tests.Security;

/// <summary>
/// Every stateful object belongs to a principal (a key, and a user inside it): another principal's id must answer
/// exactly like an id that does not exist, on every route, and caps cannot be dodged by naming other users.
/// </summary>
public sealed class OwnershipTests
{
    private const string Bootstrap = "ownership-bootstrap-key";

    [Fact]
    public async Task NativeSession_OfAnotherKey_IsInvisibleAndUntouchable()
    {
        await using var server = await WardenTestServer.StartAsync(apiKey: Bootstrap);
        var ct = TestContext.Current.CancellationToken;
        using var a = await StoredKeyClientAsync(server, "tenant-a", ct);
        using var b = await StoredKeyClientAsync(server, "tenant-b", ct);

        var (created, session) = await Json.PostAsync(a, "/api/v1/sessions", new { language = "python" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = session.GetProperty("id").GetString()!;
        var (ran, _) = await Json.PostAsync(a, $"/api/v1/sessions/{id}/execute", new { code = "secret = 'a-secret'" });
        Assert.Equal(HttpStatusCode.OK, ran.StatusCode);

        var listed = await Json.ReadAsync(await b.GetAsync("/api/v1/sessions", ct));
        Assert.DoesNotContain(id, listed.GetRawText());
        var missing = Guid.NewGuid().ToString();
        await AssertSameAsMissingAsync(b, HttpMethod.Get, $"/api/v1/sessions/{id}", $"/api/v1/sessions/{missing}", null, ct);
        await AssertSameAsMissingAsync(b, HttpMethod.Post, $"/api/v1/sessions/{id}/execute", $"/api/v1/sessions/{missing}/execute", new { code = "secret" }, ct);
        await AssertSameAsMissingAsync(b, HttpMethod.Post, $"/api/v1/sessions/{id}/interrupt", $"/api/v1/sessions/{missing}/interrupt", null, ct);
        await AssertSameAsMissingAsync(b, HttpMethod.Post, $"/api/v1/sessions/{id}/restart", $"/api/v1/sessions/{missing}/restart", null, ct);
        await AssertSameAsMissingAsync(b, HttpMethod.Delete, $"/api/v1/sessions/{id}", $"/api/v1/sessions/{missing}", null, ct);

        // Untouched: A's state is still there, and A still lists it.
        var (_, still) = await Json.PostAsync(a, $"/api/v1/sessions/{id}/execute", new { code = "secret" });
        Assert.Equal("'a-secret'", still.GetProperty("result").GetString());
        Assert.Contains(id, (await Json.ReadAsync(await a.GetAsync("/api/v1/sessions", ct))).GetRawText());

        // The admin key acting as itself sees everything; acting for a user it is that user.
        Assert.Contains(id, (await Json.ReadAsync(await server.Client.GetAsync("/api/v1/sessions", ct))).GetRawText());
        using var asUser = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/sessions/{id}");
        asUser.Headers.Add(Caller.UserHeader, "default");
        Assert.Equal(HttpStatusCode.NotFound, (await server.Client.SendAsync(asUser, ct)).StatusCode);
    }

    [Fact]
    public async Task NativeSession_OfAnotherUserOfTheSameKey_IsInvisible_AndTheBodyUserCannotContradictTheHeader()
    {
        await using var server = await WardenTestServer.StartAsync(apiKey: Bootstrap);
        var ct = TestContext.Current.CancellationToken;
        using var key = await StoredKeyClientAsync(server, "front-end", ct);

        var (created, session) = await SendAsync(key, HttpMethod.Post, "/api/v1/sessions", new { language = "python" }, "alice", ct);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("alice", session.GetProperty("user").GetString());
        var id = session.GetProperty("id").GetString()!;

        var (asBob, _) = await SendAsync(key, HttpMethod.Post, $"/api/v1/sessions/{id}/execute", new { code = "1" }, "bob", ct);
        Assert.Equal(HttpStatusCode.NotFound, asBob.StatusCode);
        var (bobList, list) = await SendAsync(key, HttpMethod.Get, "/api/v1/sessions", null, "bob", ct);
        Assert.Equal(HttpStatusCode.OK, bobList.StatusCode);
        Assert.Equal(0, list.GetArrayLength());
        var (asAlice, _) = await SendAsync(key, HttpMethod.Post, $"/api/v1/sessions/{id}/execute", new { code = "1" }, "alice", ct);
        Assert.Equal(HttpStatusCode.OK, asAlice.StatusCode);

        var (contradiction, problem) = await SendAsync(key, HttpMethod.Post, "/api/v1/sessions", new { language = "python", user = "carol" }, "bob", ct);
        Assert.Equal(HttpStatusCode.BadRequest, contradiction.StatusCode);
        Assert.Equal("user", problem.GetProperty("parameter").GetString());
        var (control, _) = await SendAsync(key, HttpMethod.Post, "/api/v1/sessions", new { language = "python", user = "eve\nmallory" }, null, ct);
        Assert.Equal(HttpStatusCode.BadRequest, control.StatusCode);
    }

    [Fact]
    public async Task SessionCaps_VaryingTheBodyUser_CannotExceedTheKeysCap()
    {
        await using var server = await WardenTestServer.StartAsync(new()
        {
            ["Warden:Sessions:MaxSessionsPerUser"] = "1", ["Warden:Sessions:MaxSessionsPerKey"] = "2", ["Warden:Sessions:MaxSessions"] = "10",
        }, apiKey: Bootstrap);
        var ct = TestContext.Current.CancellationToken;
        using var a = await StoredKeyClientAsync(server, "greedy", ct);
        using var b = await StoredKeyClientAsync(server, "neighbour", ct);

        Assert.Equal(HttpStatusCode.Created, (await Json.PostAsync(a, "/api/v1/sessions", new { language = "bash", user = "u1" })).Response.StatusCode);
        var (sameUser, _) = await Json.PostAsync(a, "/api/v1/sessions", new { language = "bash", user = "u1" });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, sameUser.StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await Json.PostAsync(a, "/api/v1/sessions", new { language = "bash", user = "u2" })).Response.StatusCode);
        var (dodged, problem) = await Json.PostAsync(a, "/api/v1/sessions", new { language = "bash", user = "u3" });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, dodged.StatusCode);
        Assert.NotNull(dodged.Headers.RetryAfter);
        Assert.Contains("MaxSessionsPerKey", problem.GetProperty("detail").GetString());
        // Another key is its own bucket.
        Assert.Equal(HttpStatusCode.Created, (await Json.PostAsync(b, "/api/v1/sessions", new { language = "bash", user = "u1" })).Response.StatusCode);
    }

    [Fact]
    public async Task MemoryBudget_RefusesSessionsBeyondIt_With503_AndAdmitsAgainOnceOneIsDeleted()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:MemoryBudgetMb"] = "600" });
        var ct = TestContext.Current.CancellationToken;
        var (first, one) = await Json.PostAsync(server.Client, "/api/v1/sessions", new { language = "bash", memory_mb = 256, user = "u1" });
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await Json.PostAsync(server.Client, "/api/v1/sessions", new { language = "bash", memory_mb = 256, user = "u2" })).Response.StatusCode);
        var (third, problem) = await Json.PostAsync(server.Client, "/api/v1/sessions", new { language = "bash", memory_mb = 256, user = "u3" });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, third.StatusCode);
        Assert.NotNull(third.Headers.RetryAfter);
        Assert.Contains("memory budget", problem.GetProperty("detail").GetString());
        // A smaller session still fits what is left (600 - 512 = 88 MB).
        Assert.Equal(HttpStatusCode.Created, (await Json.PostAsync(server.Client, "/api/v1/sessions", new { language = "bash", memory_mb = 64, user = "u4" })).Response.StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await server.Client.DeleteAsync($"/api/v1/sessions/{one.GetProperty("id").GetString()}", ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await Json.PostAsync(server.Client, "/api/v1/sessions", new { language = "bash", memory_mb = 256, user = "u3" })).Response.StatusCode);
    }

    [Fact]
    public async Task JupyterKernel_OfAnotherKey_IsInvisible_AndItsWebSocketIsRefused()
    {
        await using var server = await WardenTestServer.StartAsync(apiKey: Bootstrap);
        var ct = TestContext.Current.CancellationToken;
        var keyA = await StoredKeyAsync(server, "jupyter-a", ct);
        var keyB = await StoredKeyAsync(server, "jupyter-b", ct);
        using var a = TokenClient(server, keyA);
        using var b = TokenClient(server, keyB);

        var started = await a.PostAsync("/api/kernels", new StringContent(""), ct);
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        var id = (await Json.ReadAsync(started)).GetProperty("id").GetString()!;
        await using (var socket = await KernelSocket.ConnectAsync(server.Address, id, keyA, ct))
            await socket.ExecuteAsync("secret = 'kernel-a'", ct);

        Assert.DoesNotContain(id, (await Json.ReadAsync(await b.GetAsync("/api/kernels", ct))).GetRawText());
        Assert.Equal(0, (await Json.ReadAsync(await b.GetAsync("/api/status", ct))).GetProperty("kernels").GetInt32());
        var missing = Guid.NewGuid().ToString();
        await AssertSameAsMissingAsync(b, HttpMethod.Get, $"/api/kernels/{id}", $"/api/kernels/{missing}", null, ct);
        await AssertSameAsMissingAsync(b, HttpMethod.Post, $"/api/kernels/{id}/interrupt", $"/api/kernels/{missing}/interrupt", null, ct);
        await AssertSameAsMissingAsync(b, HttpMethod.Post, $"/api/kernels/{id}/restart", $"/api/kernels/{missing}/restart", null, ct);
        await AssertSameAsMissingAsync(b, HttpMethod.Delete, $"/api/kernels/{id}", $"/api/kernels/{missing}", null, ct);
        var refused = await Assert.ThrowsAsync<WebSocketException>(() => KernelSocket.ConnectAsync(server.Address, id, keyB, ct));
        Assert.Contains("404", refused.Message);

        await using var again = await KernelSocket.ConnectAsync(server.Address, id, keyA, ct);
        Assert.Equal("'kernel-a'", (await again.ExecuteAsync("secret", ct)).Result);
    }

    [Fact]
    public async Task Terminal_StoredKeysWork_AndTheSameUserIdUnderTwoKeysIsTwoHomes()
    {
        await using var terminal = await OpenTerminal.TerminalTestServer.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        var keyA = await StoredKeyAsync(terminal.Server, "owui-a", ct);
        var keyB = await StoredKeyAsync(terminal.Server, "owui-b", ct);
        using var a = terminal.For("alice", bearer: keyA);
        using var b = terminal.For("alice", bearer: keyB);

        var written = await a.RunAsync("echo tenant-a-secret > /home/user/secret.txt && id -u");
        Assert.Equal(0, written.GetProperty("exit_code").GetInt32());
        var read = await b.RunAsync("cat /home/user/secret.txt; id -u; ls -A /home/user");
        Assert.DoesNotContain("tenant-a-secret", read.GetRawText());
        Assert.NotEqual(OpenTerminal.TerminalClient.Output(written).Trim(), OpenTerminal.TerminalClient.Output(read).Split('\n')[^1].Trim());

        // No bearer at all: stored keys turned authentication on for the terminal too.
        using var anonymous = terminal.For("alice", bearer: null);
        var denied = await anonymous.Http.PostAsync("execute", Json.Body(new { command = "id" }), ct);
        Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode);
        Assert.Equal("application/problem+json", denied.Content.Headers.ContentType?.MediaType);
    }

    /// <summary>The non-owner's answer must be indistinguishable from a missing id's: status, problem type and title.</summary>
    [Fact]
    public async Task ExecutionRecords_BelongToTheirKeyAndUser()
    {
        await using var server = await WardenTestServer.StartAsync(apiKey: Bootstrap);
        var ct = TestContext.Current.CancellationToken;
        using var a = await StoredKeyClientAsync(server, "history-a", ct);
        using var b = await StoredKeyClientAsync(server, "history-b", ct);
        var (ran, result) = await SendAsync(a, HttpMethod.Post, "/api/v1/execute", new { language = "bash", code = "echo mine" }, "alice", ct);
        Assert.Equal(HttpStatusCode.OK, ran.StatusCode);
        var id = result.GetProperty("execution_id").GetString()!;

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(a, HttpMethod.Get, $"/api/v1/executions/{id}", null, "alice", ct)).Response.StatusCode);
        Assert.Contains(id, (await SendAsync(a, HttpMethod.Get, "/api/v1/executions", null, "alice", ct)).Body.GetRawText());
        foreach (var (client, user) in new[] { (b, "alice"), (a, "bob"), (a, (string?)null) })
        {
            Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(client, HttpMethod.Get, $"/api/v1/executions/{id}", null, user, ct)).Response.StatusCode);
            Assert.DoesNotContain(id, (await SendAsync(client, HttpMethod.Get, "/api/v1/executions", null, user, ct)).Body.GetRawText());
        }
        Assert.Contains(id, (await Json.ReadAsync(await server.Client.GetAsync("/api/v1/executions", ct))).GetRawText());
    }

    private static async Task AssertSameAsMissingAsync(HttpClient client, HttpMethod method, string path, string missingPath, object? body, CancellationToken ct)
    {
        var (other, otherBody) = await SendAsync(client, method, path, body, null, ct);
        var (missing, missingBody) = await SendAsync(client, method, missingPath, body, null, ct);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(missing.StatusCode, other.StatusCode);
        Assert.Equal("application/problem+json", other.Content.Headers.ContentType?.MediaType);
        Assert.Equal(missingBody.GetProperty("type").GetString(), otherBody.GetProperty("type").GetString());
        Assert.Equal(missingBody.GetProperty("title").GetString(), otherBody.GetProperty("title").GetString());
    }

    private static async Task<(HttpResponseMessage Response, JsonElement Body)> SendAsync(HttpClient client, HttpMethod method, string path, object? body,
        string? user, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : Json.Body(body) };
        if (user is not null) request.Headers.Add(Caller.UserHeader, user);
        var response = await client.SendAsync(request, ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        return (response, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    private static async Task<string> StoredKeyAsync(WardenTestServer server, string name, CancellationToken ct) =>
        (await ((ApiKeyStore)server.Services.GetService(typeof(ApiKeyStore))!).CreateAsync(name, [ApiKeyScopes.Execute], ct)).Key;

    private static async Task<HttpClient> StoredKeyClientAsync(WardenTestServer server, string name, CancellationToken ct)
    {
        var client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await StoredKeyAsync(server, name, ct));
        return client;
    }

    private static HttpClient TokenClient(WardenTestServer server, string token)
    {
        var client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("token", token);
        return client;
    }
}
