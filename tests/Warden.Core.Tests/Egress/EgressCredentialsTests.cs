using System.Text;
using Warden.Core.Egress;

namespace Warden.Core.Tests.Egress;

/// <summary>Per-host credentials the proxy adds, so that the secret never enters the sandbox.</summary>
public sealed class EgressCredentialsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("warden-egress-").FullName;
    private readonly string _secret = "Bearer s3cret-" + Guid.NewGuid().ToString("N");

    private string CredentialsFile(string upstream)
    {
        var path = Path.Combine(_dir, "credentials.json");
        File.WriteAllText(path, $$"""[{"host": "api.test", "header": "Authorization", "value": "{{_secret}}", "upstream": "{{upstream}}"}]""");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    private EgressOptions Options(int port, string upstream, string? upstreamCa = null) => new()
    {
        Allow = $"api.test:{port}",
        Hosts = "api.test=127.0.0.1",
        AllowPrivate = $"127.0.0.1/32:{port}",
        CredentialsFile = CredentialsFile(upstream),
        UpstreamCa = upstreamCa,
    };

    private static int Count(string text, string line) =>
        text.Split("\r\n").Count(l => l.StartsWith(line, StringComparison.OrdinalIgnoreCase));

    [Fact]
    public async Task PlainHttp_HeaderAddedAndClientsOwnReplaced()
    {
        await using var origin = new TestOrigin();
        await using var h = new EgressHarness(Options(origin.Port, "http"));

        var answer = await h.SendRawAsync($"GET http://api.test:{origin.Port}/echo HTTP/1.1\r\nHost: api.test:{origin.Port}\r\nAuthorization: Bearer forged\r\nauthorization: Bearer forged-again\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200 ", answer, StringComparison.Ordinal);
        var received = Assert.Single(origin.Heads);
        Assert.Equal(1, Count(received, "Authorization:"));
        Assert.Contains($"\r\nAuthorization: {_secret}\r\n", received, StringComparison.Ordinal);
        Assert.DoesNotContain("forged", received, StringComparison.Ordinal);
        Assert.True((await h.NextRecordAsync()).CredentialsInjected);
    }

    [Fact]
    public async Task PlainHttp_ConnectionHeaderCannotDropTheFraming()
    {
        await using var origin = new TestOrigin();
        await using var h = new EgressHarness(Options(origin.Port, "http"));

        // Naming Content-Length in Connection must not make the proxy drop it (the body would become a request).
        var answer = await h.SendRawAsync($"POST http://api.test:{origin.Port}/echo HTTP/1.1\r\nHost: api.test:{origin.Port}\r\nConnection: Content-Length, X-Drop\r\nX-Drop: 1\r\nContent-Length: 4\r\n\r\nbody");

        Assert.StartsWith("HTTP/1.1 200 ", answer, StringComparison.Ordinal);
        var received = Assert.Single(origin.Heads);
        Assert.Contains("Content-Length: 4\r\n", received, StringComparison.Ordinal);
        Assert.DoesNotContain("X-Drop", received, StringComparison.Ordinal);
        Assert.EndsWith("body", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_ToCredentialedHost_Refused()
    {
        await using var origin = new TestOrigin();
        await using var h = new EgressHarness(Options(origin.Port, "http"));

        var answer = await h.SendRawAsync($"CONNECT api.test:{origin.Port} HTTP/1.1\r\nHost: api.test:{origin.Port}\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 403 ", answer, StringComparison.Ordinal);
        Assert.Contains("reason=credentialed_use_http", answer, StringComparison.Ordinal);
        Assert.Equal(0, origin.Accepted);
    }

    [Fact]
    public async Task UpstreamHttps_ProxySpeaksVerifiedTlsToOrigin()
    {
        using var pki = new TestPki();
        using var leaf = pki.Leaf("api.test");
        var caFile = Path.Combine(_dir, "ca.pem");
        await File.WriteAllTextAsync(caFile, pki.CaPem, TestContext.Current.CancellationToken);
        await using var origin = new TestOrigin(leaf);
        await using var h = new EgressHarness(Options(origin.Port, "https", caFile));
        using var client = h.Client();

        var body = await client.GetStringAsync(new Uri($"http://api.test:{origin.Port}/echo"), TestContext.Current.CancellationToken);

        Assert.StartsWith("GET /echo HTTP/1.1\r\n", body, StringComparison.Ordinal);
        Assert.Contains($"\r\nAuthorization: {_secret}\r\n", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UpstreamHttps_UntrustedOrigin_NothingSent()
    {
        using var pki = new TestPki();
        using var stranger = new TestPki();
        using var leaf = stranger.Leaf("api.test");
        var caFile = Path.Combine(_dir, "ca.pem");
        await File.WriteAllTextAsync(caFile, pki.CaPem, TestContext.Current.CancellationToken);
        await using var origin = new TestOrigin(leaf);
        await using var h = new EgressHarness(Options(origin.Port, "https", caFile));

        var answer = await h.SendRawAsync($"GET http://api.test:{origin.Port}/echo HTTP/1.1\r\nHost: api.test:{origin.Port}\r\n\r\n");

        // The secret goes only to an origin that proved it is api.test.
        Assert.StartsWith("HTTP/1.1 502 ", answer, StringComparison.Ordinal);
        Assert.Contains("reason=upstream_tls", answer, StringComparison.Ordinal);
        Assert.Empty(origin.Heads);
        var record = await h.NextRecordAsync();
        Assert.False(record.CredentialsInjected);
        Assert.Equal(0, record.BytesSent);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
