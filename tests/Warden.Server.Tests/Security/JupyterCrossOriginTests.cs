using System.Net;
using System.Net.WebSockets;
using System.Text.RegularExpressions;

namespace Warden.Server.Tests.Security;

/// <summary>
/// A kernel's channels WebSocket authenticated by the password-login cookie: browsers send that cookie on a WebSocket
/// handshake a page of another origin opens (same site, another port or subdomain), and a WebSocket is not subject to
/// CORS, so such a page could drive the kernel. jupyter_server refuses a cross-origin handshake (check_origin); XSRF does
/// not apply to it (a GET). Token clients (Open WebUI's backend) send no browser Origin and are unaffected.
/// </summary>
public sealed partial class JupyterCrossOriginTests
{
    private const string Password = "cross-origin-password";

    [Fact]
    public async Task KernelChannels_WithTheLoginCookie_RefuseAnotherOrigin()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:Jupyter:Password"] = Password });
        var ct = TestContext.Current.CancellationToken;
        var cookies = new CookieContainer();
        using var handler = new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false };
        using var browser = new HttpClient(handler) { BaseAddress = server.Address };
        var xsrf = XsrfField().Match(await browser.GetStringAsync("/login", ct)).Groups[1].Value;
        using (var login = await browser.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string> { ["_xsrf"] = xsrf, ["password"] = Password }), ct))
            Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        using var start = new HttpRequestMessage(HttpMethod.Post, "/api/kernels") { Content = new StringContent("") };
        start.Headers.Add("X-XSRFToken", xsrf);
        using var started = await browser.SendAsync(start, ct);
        var kernel = (await Json.ReadAsync(started)).GetProperty("id").GetString()!;
        var cookieHeader = cookies.GetCookieHeader(server.Address);

        async Task<WebSocketState> ConnectAsync(string origin)
        {
            using var socket = new ClientWebSocket();
            socket.Options.SetRequestHeader("Cookie", cookieHeader);
            socket.Options.SetRequestHeader("Origin", origin);
            var url = new UriBuilder(server.Address) { Scheme = "ws", Path = $"/api/kernels/{kernel}/channels" }.Uri;
            try { await socket.ConnectAsync(url, ct); }
            catch (WebSocketException) { return WebSocketState.Closed; }
            return socket.State;
        }

        // The server's own origin (JupyterLab served alongside) connects; that is what makes the refusal below meaningful.
        Assert.Equal(WebSocketState.Open, await ConnectAsync(server.Address.GetLeftPart(UriPartial.Authority)));
        var foreign = await ConnectAsync("http://evil.example");
        Assert.True(foreign != WebSocketState.Open, "A page of http://evil.example opened the password user's kernel channels with the login cookie.");
    }

    [GeneratedRegex("name=\"_xsrf\" value=\"([0-9a-f]+)\"")]
    private static partial Regex XsrfField();
}
