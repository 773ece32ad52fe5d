using System.Net;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>A server whose operator turned previews off (Warden:Terminal:Previews=false).</summary>
public sealed class PreviewsOffServer : IAsyncLifetime
{
    public TerminalTestServer Server { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Server = await TerminalTestServer.StartAsync(new() { ["Warden:Terminal:Previews"] = "false" });

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// Previews off: no route reaches a server in the sandbox, and the sandbox cannot open an inet socket at all (the
/// executions' seccomp filter), so turning the setting off takes the kernel's TCP/IP code away from users again.
/// </summary>
public sealed class PreviewsOffTests(PreviewsOffServer fixture) : IClassFixture<PreviewsOffServer>
{
    [Fact]
    public async Task PreviewsOff_NoInetSocketsInTheSandbox_EmptyPorts_ProxyRefused()
    {
        using var user = fixture.Server.For("previews-off");
        var result = await user.RunAsync(
            "python3 -c 'import socket\nfor f in (socket.AF_INET, socket.AF_INET6):\n try:\n  socket.socket(f, socket.SOCK_STREAM); print(\"OPENED\")\n except OSError as e: print(\"refused\", e.errno)'");
        var output = TerminalClient.Output(result);
        Assert.DoesNotContain("OPENED", output, StringComparison.Ordinal);
        Assert.Equal(2, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Count(l => l.StartsWith("refused ", StringComparison.Ordinal)));

        var (status, ports) = await user.GetAsync("ports");
        Assert.Equal(200, status);
        Assert.Empty(ports.GetProperty("ports").EnumerateArray());
        using var response = await user.Http.GetAsync("proxy/8000/", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}
