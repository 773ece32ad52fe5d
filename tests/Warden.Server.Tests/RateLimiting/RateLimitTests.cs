using System.Net;
using Warden.Server.Tests.Auth;

namespace Warden.Server.Tests.RateLimiting;

public sealed class RateLimitTests
{
    private static readonly object Hello = new { language = "bash", code = "echo hi" };

    [Fact]
    public async Task Execute_BurstExhausted_Returns429WithRetryAfter()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:RateLimits:PerMinute"] = "6", ["Warden:RateLimits:Burst"] = "2" });
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostAsync("/api/v1/execute", Json.Body(Hello), ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostAsync("/api/v1/execute", Json.Body(Hello), ct)).StatusCode);

        var limited = await server.Client.PostAsync("/api/v1/execute", Json.Body(Hello), ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal("application/problem+json", limited.Content.Headers.ContentType?.MediaType);
        var retry = limited.Headers.RetryAfter?.Delta;
        Assert.NotNull(retry);
        Assert.InRange(retry!.Value.TotalSeconds, 1, 10);
        // Only code-running endpoints are limited.
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/api/v1/runtimes", ct)).StatusCode);
        var metrics = await server.Client.GetStringAsync("/metrics", ct);
        Assert.Contains("warden_rejections_total{reason=\"rate_limit\"} 1", metrics);
    }

    [Fact]
    public async Task Execute_TrustedUserHeader_EachUserHasOwnBucket_AnonymousHeaderIgnored()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:RateLimits:PerMinute"] = "1", ["Warden:RateLimits:Burst"] = "1" },
            apiKey: "gateway-key");
        var ct = TestContext.Current.CancellationToken;
        async Task<HttpStatusCode> As(string user)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/execute") { Content = Json.Body(Hello) };
            request.Headers.Add("X-User-Id", user);
            return (await server.Client.SendAsync(request, ct)).StatusCode;
        }
        Assert.Equal(HttpStatusCode.OK, await As("alice"));
        Assert.Equal(HttpStatusCode.TooManyRequests, await As("alice"));
        Assert.Equal(HttpStatusCode.OK, await As("bob"));
        var page = await ApiKeyTests.PollHistoryAsync(server.Client, "/api/v1/executions?user=bob", 1);
        Assert.Equal("bootstrap", page.GetProperty("items")[0].GetProperty("key_id").GetString());
    }

    [Fact]
    public async Task Execute_UntrustedUserHeader_DoesNotEscapeTheIpLimit()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:RateLimits:PerMinute"] = "1", ["Warden:RateLimits:Burst"] = "1" });
        var ct = TestContext.Current.CancellationToken;
        async Task<HttpStatusCode> As(string user)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/execute") { Content = Json.Body(Hello) };
            request.Headers.Add("X-User-Id", user);
            return (await server.Client.SendAsync(request, ct)).StatusCode;
        }
        Assert.Equal(HttpStatusCode.OK, await As("alice"));
        Assert.Equal(HttpStatusCode.TooManyRequests, await As("mallory"));
    }

    [Fact]
    public async Task Execute_PerUserConcurrencyCap_Returns429WhileRunning()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:RateLimits:MaxConcurrentPerUser"] = "1" });
        var ct = TestContext.Current.CancellationToken;
        var running = server.Client.PostAsync("/api/v1/execute", Json.Body(new { language = "bash", code = "sleep 1.5; echo slow" }), ct);
        await Task.Delay(500, ct);

        var second = await server.Client.PostAsync("/api/v1/execute", Json.Body(Hello), ct);

        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.NotNull(second.Headers.RetryAfter);
        Assert.Equal(HttpStatusCode.OK, (await running).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.PostAsync("/api/v1/execute", Json.Body(Hello), ct)).StatusCode);
    }
}
