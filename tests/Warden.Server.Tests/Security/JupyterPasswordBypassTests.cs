using System.Net;
using System.Text.RegularExpressions;

namespace Warden.Server.Tests.Security;

/// <summary>
/// A Jupyter password protects the password user's kernels: someone who does not know it must not reach them by another
/// route. Without any API key, the native API is open (anonymous callers are admins there), and a kernel is a session:
/// <c>GET /api/v1/sessions</c> lists the password user's kernels and <c>POST /api/v1/sessions/{id}/execute</c> runs code
/// in them, while <c>/api/kernels</c> answers 403 to the same anonymous client.
/// </summary>
public sealed partial class JupyterPasswordBypassTests
{
    private const string Password = "jupyter-bypass-password";

    [Fact]
    public async Task PasswordUsersKernel_IsNotReachableAnonymously_ThroughTheNativeApi()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:Jupyter:Password"] = Password });
        var ct = TestContext.Current.CancellationToken;
        var kernel = await StartKernelWithPasswordLoginAsync(server, ct);

        using var anonymous = new HttpClient { BaseAddress = server.Address };
        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.GetAsync("/api/kernels", ct)).StatusCode);

        var listed = await anonymous.GetAsync("/api/v1/sessions", ct);
        var list = await listed.Content.ReadAsStringAsync(ct);
        var executed = await anonymous.PostAsync($"/api/v1/sessions/{kernel}/execute", Json.Body(new { code = "'ran in the password user kernel'" }), ct);
        var result = await executed.Content.ReadAsStringAsync(ct);
        Assert.False(list.Contains(kernel, StringComparison.Ordinal),
            $"An anonymous client listed the password user's kernel through GET /api/v1/sessions ({(int)listed.StatusCode}): {list}");
        Assert.False(executed.IsSuccessStatusCode,
            $"An anonymous client ran code in the password user's kernel through the native API ({(int)executed.StatusCode}): {result}");
    }

    private static async Task<string> StartKernelWithPasswordLoginAsync(WardenTestServer server, CancellationToken ct)
    {
        var cookies = new System.Net.CookieContainer();
        using var handler = new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false };
        using var browser = new HttpClient(handler) { BaseAddress = server.Address };
        var page = await browser.GetStringAsync("/login", ct);
        var xsrf = XsrfField().Match(page).Groups[1].Value;
        using var login = await browser.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string> { ["_xsrf"] = xsrf, ["password"] = Password }), ct);
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        using var start = new HttpRequestMessage(HttpMethod.Post, "/api/kernels") { Content = new StringContent("") };
        start.Headers.Add("X-XSRFToken", xsrf);
        using var started = await browser.SendAsync(start, ct);
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        return (await Json.ReadAsync(started)).GetProperty("id").GetString()!;
    }

    [GeneratedRegex("name=\"_xsrf\" value=\"([0-9a-f]+)\"")]
    private static partial Regex XsrfField();
}
