using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>
/// Previews: a user's own web server reached through <c>/proxy/{port}/{path}</c> (HTTP and a WebSocket upgrade), with the
/// preview headers on every answer, and <c>/ports</c>. Two users throughout: B never sees or reaches anything of A's.
/// </summary>
public sealed class PreviewTests(SharedTerminalServer fixture) : IClassFixture<SharedTerminalServer>
{
    private TerminalTestServer Terminal => fixture.Server;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Proxy_UsersWebServer_HtmlPageAndItsRelativeAssetLoad_WithPreviewHeaders()
    {
        using var alice = Terminal.For("preview-alice");
        int port = PreviewServers.Port();
        await alice.RunAsync("mkdir -p ~/site && printf '<html><link rel=stylesheet href=\"css/style.css\"><body>hello preview</body></html>' > ~/site/index.html " +
            "&& mkdir -p ~/site/css && printf 'body{color:#123456}' > ~/site/css/style.css");
        await PreviewServers.StartHttpAsync(alice, "~/site", port);

        using var page = await alice.Http.GetAsync($"proxy/{port}/index.html?x=1", Ct);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var html = await page.Content.ReadAsStringAsync(Ct);
        Assert.Contains("hello preview", html, StringComparison.Ordinal);
        Assert.Equal("sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads", page.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("nosniff", page.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("no-store", page.Headers.CacheControl?.ToString());
        // The page's relative stylesheet, resolved as a browser would against the page's URL.
        var asset = new Uri(page.RequestMessage!.RequestUri!, "css/style.css");
        using var css = await alice.Http.GetAsync(asset, Ct);
        Assert.Equal(HttpStatusCode.OK, css.StatusCode);
        Assert.Equal("body{color:#123456}", await css.Content.ReadAsStringAsync(Ct));
        // A POST with a body reaches the server too (http.server answers 501 to it: the answer is relayed as is).
        using var post = await alice.Http.PostAsync($"proxy/{port}/", new StringContent("x=1"), Ct);
        Assert.Equal(HttpStatusCode.NotImplemented, post.StatusCode);
    }

    [Fact]
    public async Task Proxy_AnotherUsersPort_ReachesNothingOfTheirs_AndPortsShowOnlyOwnListeners()
    {
        using var alice = Terminal.For("preview-a2");
        using var bob = Terminal.For("preview-b2");
        int port = PreviewServers.Port();
        await alice.RunAsync("mkdir -p ~/pub && echo alice-private-page > ~/pub/index.html");
        await PreviewServers.StartHttpAsync(alice, "~/pub", port);
        await bob.RunAsync("true");

        var (status, ports) = await alice.GetAsync("ports");
        Assert.Equal(200, status);
        var mine = ports.GetProperty("ports").EnumerateArray().Single(p => p.GetProperty("port").GetInt32() == port);
        Assert.StartsWith("python3", mine.GetProperty("process").GetString(), StringComparison.Ordinal);
        Assert.True(mine.GetProperty("pid").GetInt32() > 0);

        (status, ports) = await bob.GetAsync("ports");
        Assert.Equal(200, status);
        Assert.DoesNotContain(ports.GetProperty("ports").EnumerateArray(), p => p.GetProperty("port").GetInt32() == port);

        // Bob's request goes to Bob's sandbox, where nothing listens on that port.
        using var response = await bob.Http.GetAsync($"proxy/{port}/index.html", Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal($"Connection refused: localhost:{port}", JsonDocument.Parse(body).RootElement.GetProperty("detail").GetString());
        Assert.DoesNotContain("alice-private-page", body, StringComparison.Ordinal);
        // And Alice still reaches her own.
        using var own = await alice.Http.GetAsync($"proxy/{port}/index.html", Ct);
        Assert.Contains("alice-private-page", await own.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Proxy_UserWithoutRunningSandbox_IsRefused_WithoutStartingOne()
    {
        using var carol = Terminal.For("preview-idle-carol");
        var (status, body) = await carol.GetAsync("ports");
        Assert.Equal(200, status);
        Assert.Empty(body.GetProperty("ports").EnumerateArray());
        (status, _) = await carol.GetAsync("proxy/8000/");
        Assert.Equal(502, status);
    }

    /// <summary>Servers need inet sockets in the sandbox; its network namespace still has only its own loopback.</summary>
    [Fact]
    public async Task Sandbox_InetSocketsForPreviews_ReachNothingOutsideItsOwnLoopback()
    {
        using var user = Terminal.For("preview-escape");
        int hostPort = Terminal.Server.Address.Port;
        var result = await user.RunAsync("for target in 127.0.0.1:" + hostPort + " 10.0.0.1:80 1.1.1.1:53 '[::1]:" + hostPort + "'; do " +
            "python3 -c 'import socket,sys; h,p=sys.argv[1].rsplit(\":\",1); socket.create_connection((h.strip(\"[]\"),int(p)),timeout=3); print(\"REACHED\",sys.argv[1])' \"$target\" 2>/dev/null || echo \"blocked $target\"; done");
        var output = TerminalClient.Output(result);
        Assert.DoesNotContain("REACHED", output, StringComparison.Ordinal);
        Assert.Equal(4, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Count(l => l.StartsWith("blocked ", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("0", 422)]
    [InlineData("65536", 422)]
    [InlineData("99999999999", 422)]
    [InlineData("abc", 422)]
    public async Task Proxy_BadPort_Is422(string port, int expected)
    {
        using var user = Terminal.For("preview-badport");
        using var response = await user.Http.GetAsync($"proxy/{port}/", Ct);
        Assert.Equal(expected, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Proxy_WebSocketUpgrade_ReachesEchoServerInsideTheSandbox()
    {
        using var alice = Terminal.For("preview-ws");
        int port = PreviewServers.Port();
        await alice.PostAsync("files/write", new { path = "/home/user/ws_echo.py", content = PreviewServers.WebSocketEcho });
        await alice.RunAsync($"(nohup python3 ~/ws_echo.py {port} >/dev/null 2>&1 &); " +
            $"for i in $(seq 100); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}))' 2>/dev/null && break; sleep 0.1; done");

        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", "Bearer " + TerminalTestServer.ApiKey);
        socket.Options.SetRequestHeader("X-User-Id", "preview-ws");
        var uri = new UriBuilder(Terminal.Server.Address) { Scheme = "ws", Path = $"/terminal/proxy/{port}/socket" }.Uri;
        await socket.ConnectAsync(uri, Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        foreach (var message in new[] { "hello", new string('x', 5000) })
        {
            await socket.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, true, Ct);
            var buffer = new byte[16384];
            var received = new StringBuilder();
            WebSocketReceiveResult result;
            do
            {
                result = await socket.ReceiveAsync(buffer, Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
                received.Append(Encoding.UTF8.GetString(buffer, 0, result.Count));
            }
            while (!result.EndOfMessage);
            Assert.Equal("echo:" + message, received.ToString());
        }
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
    }
}
