using System.Net;
using System.Net.Http.Headers;
using Warden.Server.Hosting;

namespace Warden.Server.Tests.NativeApi;

public sealed class AuthTests
{
    [Fact]
    public async Task ApiKey_RequiredOnEveryCallButHealth()
    {
        await using var server = await WardenTestServer.StartAsync(apiKey: "s3cret-key");
        var ct = TestContext.Current.CancellationToken;
        using var anonymous = new HttpClient { BaseAddress = server.Address };

        var denied = await anonymous.PostAsync("/api/v1/execute", Json.Body(new { language = "python", code = "print(1)" }), ct);
        Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode);
        Assert.Equal("application/problem+json", denied.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/config", ct)).StatusCode);

        anonymous.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "s3cret-kez");
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/v1/stats", ct)).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/api/v1/health", ct)).StatusCode);
        var (allowed, body) = await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "python", code = "print(1)" });
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal("1\n", body.GetProperty("stdout").GetString());
    }

    [Theory]
    [InlineData("http://0.0.0.0:8090")]
    [InlineData("http://*:8090")]
    [InlineData("http://192.0.2.10:8090")]
    [InlineData("http://127.0.0.1:8090;http://[::]:8090")]
    public void BindGuard_NonLoopbackWithoutKey_Refuses(string urls)
    {
        var error = Assert.Throws<InvalidOperationException>(() => BindGuard.Check(urls, apiKey: null, allowUnauthenticatedRemote: false));
        Assert.Contains("WARDEN_API_KEY", error.Message);
        BindGuard.Check(urls, apiKey: "key", allowUnauthenticatedRemote: false);
        BindGuard.Check(urls, apiKey: null, allowUnauthenticatedRemote: true);
    }

    [Theory]
    [InlineData("http://127.0.0.1:8090")]
    [InlineData("http://localhost:8090")]
    [InlineData("http://[::1]:8090")]
    [InlineData("http://127.0.0.2:1")]
    public void BindGuard_LoopbackWithoutKey_IsAllowed(string urls) =>
        BindGuard.Check(urls, apiKey: null, allowUnauthenticatedRemote: false);
}
