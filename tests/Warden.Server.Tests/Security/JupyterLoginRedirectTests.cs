using System.Net;
using System.Text.RegularExpressions;

namespace Warden.Server.Tests.Security;

/// <summary>
/// <c>POST /login?next=…</c> redirects only to a local path. Browsers drop tabs and newlines from a URL before resolving
/// it (WHATWG URL parsing), so <c>/&lt;TAB&gt;/evil.example</c> is <c>//evil.example</c>: another site. And whatever
/// <c>next</c> holds, the answer is a redirect, never a 500 from a header value Kestrel refuses (CR, LF, non-ASCII).
/// </summary>
public sealed partial class JupyterLoginRedirectTests
{
    private const string Password = "login-redirect-password";

    [Theory]
    [InlineData("/\t/evil.example")]
    [InlineData("/\n/evil.example")]
    [InlineData("/\r\nSet-Cookie: injected=1")]
    [InlineData("/\u2028evil")]
    [InlineData("/ /evil.example")]
    public async Task Login_RedirectsOnlyToALocalPath_WhateverNextHolds(string next)
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:Jupyter:Password"] = Password });
        var ct = TestContext.Current.CancellationToken;
        var cookies = new CookieContainer();
        using var handler = new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false };
        using var browser = new HttpClient(handler) { BaseAddress = server.Address };
        var xsrf = XsrfField().Match(await browser.GetStringAsync("/login", ct)).Groups[1].Value;

        using var login = await browser.PostAsync("/login?next=" + Uri.EscapeDataString(next),
            new FormUrlEncodedContent(new Dictionary<string, string> { ["_xsrf"] = xsrf, ["password"] = Password }), ct);
        Assert.True(login.StatusCode == HttpStatusCode.Redirect,
            $"next={Uri.EscapeDataString(next)} answered {(int)login.StatusCode}: {await login.Content.ReadAsStringAsync(ct)}");
        var location = login.Headers.NonValidated["Location"].ToString();
        // What a browser resolves: tabs and newlines removed, then a path must not become scheme-relative.
        var resolved = Regex.Replace(location, "[\t\n\r]", "");
        Assert.True(resolved.StartsWith('/') && !resolved.StartsWith("//", StringComparison.Ordinal) && !resolved.StartsWith("/\\", StringComparison.Ordinal),
            $"next={Uri.EscapeDataString(next)} redirected to '{Uri.EscapeDataString(location)}', which a browser resolves to another site.");
    }

    [GeneratedRegex("name=\"_xsrf\" value=\"([0-9a-f]+)\"")]
    private static partial Regex XsrfField();
}
