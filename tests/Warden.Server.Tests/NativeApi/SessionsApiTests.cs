using System.Net;

namespace Warden.Server.Tests.NativeApi;

public sealed class SessionsApiTests
{
    [Fact]
    public async Task Session_CreateExecuteGetDelete_KeepsStateAndThen404s()
    {
        await using var server = await WardenTestServer.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        var (created, session) = await Json.PostAsync(server.Client, "/api/v1/sessions", new { language = "python", user = "alice", timeout = 5 });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = session.GetProperty("id").GetString();
        Assert.Equal(5, session.GetProperty("limits").GetProperty("timeout").GetDouble());

        // A field the cell request does not have is refused, naming it, before anything runs.
        var (unknown, problem) = await Json.PostAsync(server.Client, $"/api/v1/sessions/{id}/execute", new { code = "n = 1", silent = true });
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Equal("silent", problem.GetProperty("parameter").GetString());
        await Json.PostAsync(server.Client, $"/api/v1/sessions/{id}/execute", new { code = "n = 20" });
        var (ok, result) = await Json.PostAsync(server.Client, $"/api/v1/sessions/{id}/execute", new { code = "print('n is', n)\nn + 1" });
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal("success", result.GetProperty("status").GetString());
        Assert.Equal("n is 20\n", result.GetProperty("stdout").GetString());
        Assert.Equal("21", result.GetProperty("result").GetString());
        Assert.Equal(2, result.GetProperty("execution_count").GetInt32());

        var (_, timedOut) = await Json.PostAsync(server.Client, $"/api/v1/sessions/{id}/execute", new { code = "import time\ntime.sleep(20)", timeout = 0.5 });
        Assert.Equal("timeout", timedOut.GetProperty("status").GetString());

        var state = await server.Client.GetAsync($"/api/v1/sessions/{id}", ct);
        Assert.Equal(HttpStatusCode.OK, state.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await server.Client.DeleteAsync($"/api/v1/sessions/{id}", ct)).StatusCode);
        var gone = await server.Client.GetAsync($"/api/v1/sessions/{id}", ct);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        Assert.Equal("application/problem+json", gone.Content.Headers.ContentType?.MediaType);
        var (missing, _) = await Json.PostAsync(server.Client, $"/api/v1/sessions/{id}/execute", new { code = "1" });
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Session_OverTheCap_Is503WithRetryAfter_AndAboveCeilingIs400()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:Sessions:MaxSessions"] = "1" });
        var (first, _) = await Json.PostAsync(server.Client, "/api/v1/sessions", new { language = "python" });
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var (second, problem) = await Json.PostAsync(server.Client, "/api/v1/sessions", new { language = "python" });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, second.StatusCode);
        Assert.NotNull(second.Headers.RetryAfter);
        Assert.EndsWith("capacity-exceeded", problem.GetProperty("type").GetString());
        var (tooLong, _) = await Json.PostAsync(server.Client, "/api/v1/sessions", new { language = "python", timeout = 100000 });
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
    }
}
