using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Warden.Server.Tests.Security;

/// <summary>
/// Form bodies are caller input like JSON: a malformed one (multipart without a boundary, a body that does not match its
/// boundary, more fields than the form reader allows) is a 400 problem, never a 500 — least of all on <c>POST /login</c>,
/// which anyone may call without credentials.
/// </summary>
public sealed class MalformedFormTests
{
    public static TheoryData<string, string> Malformed => new()
    {
        { "multipart/form-data", "x" },
        { "multipart/form-data; boundary=abc", "garbage that is not multipart" },
        { "application/x-www-form-urlencoded", string.Join("&", Enumerable.Range(0, 2000).Select(i => $"k{i}=v")) },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task JupyterLogin_WithAMalformedForm_IsA400_WithoutCredentials(string contentType, string body)
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:Jupyter:Password"] = "login-form-password" },
            apiKey: "malformed-form-bootstrap");
        using var anonymous = new HttpClient { BaseAddress = server.Address };
        var response = await anonymous.PostAsync("/login", Content(contentType, body), TestContext.Current.CancellationToken);
        await AssertProblem400Async(response);
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task TerminalUpload_WithAMalformedForm_IsA400(string contentType, string body)
    {
        await using var terminal = await OpenTerminal.TerminalTestServer.StartAsync();
        using var client = terminal.For("form-user");
        var response = await client.Http.PostAsync("files/upload?directory=/home/user", Content(contentType, body), TestContext.Current.CancellationToken);
        await AssertProblem400Async(response);
    }

    /// <summary>The 400 mapping must not swallow Kestrel's own refusal of a body past the upload limit (413).</summary>
    [Fact]
    public async Task TerminalUpload_PastTheBodyLimit_IsStillA413()
    {
        await using var terminal = await OpenTerminal.TerminalTestServer.StartAsync(new() { ["Warden:Terminal:MaxFileBytes"] = "4096" });
        using var client = terminal.For("form-user");
        using var form = new MultipartFormDataContent { { new ByteArrayContent(new byte[2 << 20]), "file", "big.bin" } };
        var response = await client.Http.PostAsync("files/upload?directory=/home/user", form, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    private static ByteArrayContent Content(string contentType, string body)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return content;
    }

    private static async Task AssertProblem400Async(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"Expected 400, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}
