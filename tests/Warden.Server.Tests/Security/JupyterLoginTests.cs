using System.Net;
using Warden.Server.JupyterApi;

namespace Warden.Server.Tests.Security;

/// <summary>Jupyter's password login and tokens under attack: forged cookies, wrong tokens, password guessing.</summary>
public sealed class JupyterLoginTests
{
    private const string Password = "correct horse battery staple";

    [Theory]
    [InlineData("999999999999999.x")]
    [InlineData("-1.x")]
    [InlineData("9223372036854775807.00")]
    [InlineData("1.")]
    [InlineData(".")]
    [InlineData("abc.def")]
    public async Task ForgedLoginCookie_Is401ProblemNever500(string cookie)
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:Jupyter:Password"] = Password });
        var ct = TestContext.Current.CancellationToken;
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/kernels");
        request.Headers.Add("Cookie", $"{JupyterAuth.LoginCookie}={cookie}");
        var response = await server.Client.SendAsync(request, ct);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task NoCredentials_Is403_AndAWrongToken401()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:Jupyter:Password"] = Password }, apiKey: "jupyter-login-key");
        var ct = TestContext.Current.CancellationToken;
        using var anonymous = new HttpClient { BaseAddress = server.Address };
        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.GetAsync("/api/kernels", ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/kernels?token=wrong", ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/api/kernels?token=jupyter-login-key", ct)).StatusCode);
    }

    [Fact]
    public async Task PasswordGuessing_IsThrottledPerClient_EvenTheRightPasswordWaits()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:Jupyter:Password"] = Password });
        var ct = TestContext.Current.CancellationToken;
        var cookies = new CookieContainer();
        using var client = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = server.Address };
        await client.GetAsync("/login", ct);
        var xsrf = cookies.GetCookies(server.Address)[JupyterAuth.XsrfCookie]!.Value;

        for (int i = 0; i < JupyterAuth.LoginBurst; i++)
            Assert.Equal(HttpStatusCode.Unauthorized, (await LoginAsync(client, xsrf, "guess-" + i, ct)).StatusCode);
        var throttled = await LoginAsync(client, xsrf, Password, ct);
        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        Assert.NotNull(throttled.Headers.RetryAfter);
        Assert.Equal("application/problem+json", throttled.Content.Headers.ContentType?.MediaType);
        Assert.Null(cookies.GetCookies(server.Address)[JupyterAuth.LoginCookie]);
    }

    [Fact]
    public async Task RightPassword_LogsIn_AndTheCookieOpensTheApi()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:Jupyter:Password"] = Password });
        var ct = TestContext.Current.CancellationToken;
        var cookies = new CookieContainer();
        using var client = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = server.Address };
        await client.GetAsync("/login", ct);
        var xsrf = cookies.GetCookies(server.Address)[JupyterAuth.XsrfCookie]!.Value;
        Assert.Equal(HttpStatusCode.Redirect, (await LoginAsync(client, xsrf, Password, ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/kernels", ct)).StatusCode);
    }

    private static Task<HttpResponseMessage> LoginAsync(HttpClient client, string xsrf, string password, CancellationToken ct) =>
        client.PostAsync("/login", new FormUrlEncodedContent([new("_xsrf", xsrf), new("password", password)]), ct);
}
