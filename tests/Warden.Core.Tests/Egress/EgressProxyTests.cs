using System.Net;
using System.Net.Security;
using System.Text;
using Warden.Core.Egress;

namespace Warden.Core.Tests.Egress;

/// <summary>The proxy end to end on loopback: a real client, the proxy serving a listener the test made, a real origin.</summary>
public sealed class EgressProxyTests
{
    private static EgressOptions Options(int port, string? allow = null, string? extraHosts = null) => new()
    {
        Allow = allow ?? $"allowed.test:{port}",
        Hosts = "allowed.test=127.0.0.1,other.test=127.0.0.1" + (extraHosts is null ? "" : "," + extraHosts),
        // Only the origin's port: anything else on the host's loopback stays shut.
        AllowPrivate = $"127.0.0.1/32:{port}",
    };

    [Fact]
    public async Task Get_AllowedName_ReachesOriginThroughProxy()
    {
        await using var origin = new TestOrigin();
        await using var h = new EgressHarness(Options(origin.Port));
        using var client = h.Client();

        var body = await client.GetStringAsync(new Uri($"http://allowed.test:{origin.Port}/echo?x=1"), TestContext.Current.CancellationToken);

        Assert.StartsWith("GET /echo?x=1 HTTP/1.1\r\n", body, StringComparison.Ordinal);
        Assert.Contains($"Host: allowed.test:{origin.Port}\r\n", body, StringComparison.Ordinal);
        Assert.Contains("Connection: close\r\n", body, StringComparison.Ordinal);
        Assert.DoesNotContain("Proxy-", body, StringComparison.OrdinalIgnoreCase);
        var record = await h.NextRecordAsync();
        Assert.True(record.Allowed);
        Assert.Null(record.Reason);
        Assert.Equal(("GET", "allowed.test", origin.Port, "127.0.0.1"), (record.Method, record.Host, record.Port, record.Address));
        Assert.Equal($"allowed.test:{origin.Port}", record.Pattern);
        Assert.Equal("key:test", record.Principal);
        Assert.True(record.BytesSent > 0 && record.BytesReceived > body.Length);
        Assert.Equal(new EgressUsage(1, 0, record.BytesSent, record.BytesReceived), h.Grant.Snapshot());
    }

    [Fact]
    public async Task Connect_AllowedName_ReachesTlsOrigin()
    {
        using var pki = new TestPki();
        using var leaf = pki.Leaf("allowed.test");
        await using var origin = new TestOrigin(leaf);
        await using var h = new EgressHarness(Options(origin.Port));
        using var client = h.Client(pki);

        var body = await client.GetStringAsync(new Uri($"https://allowed.test:{origin.Port}/echo"), TestContext.Current.CancellationToken);

        Assert.StartsWith("GET /echo HTTP/1.1\r\n", body, StringComparison.Ordinal);
        var record = await h.NextRecordAsync();
        Assert.True(record.Allowed);
        Assert.Equal("CONNECT", record.Method);
        Assert.True(record.BytesSent > 0 && record.BytesReceived > 0);
    }

    [Fact]
    public async Task Get_NameNotAllowed_Refused403AndOriginUntouched()
    {
        await using var origin = new TestOrigin();
        await using var h = new EgressHarness(Options(origin.Port));
        using var client = h.Client();

        using var response = await client.GetAsync(new Uri($"http://other.test:{origin.Port}/echo"), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("refused; reason=not_allowed", Assert.Single(response.Headers.GetValues("X-Warden-Egress")));
        Assert.Contains("other.test", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        var record = await h.NextRecordAsync();
        Assert.False(record.Allowed);
        Assert.Equal(EgressReasons.NotAllowed, record.Reason);
        Assert.Equal(0, origin.Accepted);
        Assert.Equal(1, h.Grant.Snapshot().Refused);
    }

    [Theory]
    [InlineData("GET http://127.0.0.1:{0}/echo HTTP/1.1\r\nHost: 127.0.0.1:{0}\r\n\r\n")]
    [InlineData("CONNECT 127.0.0.1:{0} HTTP/1.1\r\nHost: 127.0.0.1:{0}\r\n\r\n")]
    [InlineData("GET http://2130706433:{0}/echo HTTP/1.1\r\nHost: 2130706433:{0}\r\n\r\n")]
    [InlineData("GET http://0x7f.1:{0}/echo HTTP/1.1\r\nHost: 0x7f.1:{0}\r\n\r\n")]
    [InlineData("CONNECT [::1]:{0} HTTP/1.1\r\nHost: [::1]:{0}\r\n\r\n")]
    [InlineData("CONNECT [::ffff:127.0.0.1]:{0} HTTP/1.1\r\nHost: x\r\n\r\n")]
    public async Task IpLiteral_Refused403(string request)
    {
        await using var origin = new TestOrigin();
        // Even a ceiling of "*:*" never lets a literal through.
        await using var h = new EgressHarness(Options(origin.Port, allow: "*:*"));

        var answer = await h.SendRawAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, request, origin.Port));

        Assert.StartsWith("HTTP/1.1 403 ", answer, StringComparison.Ordinal);
        Assert.Contains("X-Warden-Egress: refused; reason=ip_literal\r\n", answer, StringComparison.Ordinal);
        Assert.Equal(EgressReasons.IpLiteral, (await h.NextRecordAsync()).Reason);
        Assert.Equal(0, origin.Accepted);
    }

    [Fact]
    public async Task Connect_SniDiffersFromConnectHost_ClosedBeforeOrigin()
    {
        using var pki = new TestPki();
        using var leaf = pki.Leaf("allowed.test", "other.test");
        await using var origin = new TestOrigin(leaf);
        await using var h = new EgressHarness(Options(origin.Port));
        await using var stream = await h.ConnectAsync();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT allowed.test:{origin.Port} HTTP/1.1\r\nHost: allowed.test:{origin.Port}\r\n\r\n"), TestContext.Current.CancellationToken);
        Assert.StartsWith("HTTP/1.1 200 ", await EgressHarness.ReadHeadAsync(stream), StringComparison.Ordinal);

        await using var ssl = new SslStream(stream, leaveInnerStreamOpen: true, (_, c, _, e) => pki.Validate(c as System.Security.Cryptography.X509Certificates.X509Certificate2, e));
        // Fronting: CONNECT names an allowed host, the TLS inside asks for another.
        await Assert.ThrowsAnyAsync<Exception>(() => ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "other.test" }, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));

        var record = await h.NextRecordAsync();
        Assert.False(record.Allowed);
        Assert.Equal(EgressReasons.SniMismatch, record.Reason);
        Assert.Equal(0, record.BytesSent);
        Assert.Empty(origin.Heads);
    }

    [Fact]
    public async Task Connect_NotTls_ClosedBeforeOrigin()
    {
        await using var origin = new TestOrigin();
        await using var h = new EgressHarness(Options(origin.Port));
        await using var stream = await h.ConnectAsync();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT allowed.test:{origin.Port} HTTP/1.1\r\nHost: allowed.test:{origin.Port}\r\n\r\n"), TestContext.Current.CancellationToken);
        Assert.StartsWith("HTTP/1.1 200 ", await EgressHarness.ReadHeadAsync(stream), StringComparison.Ordinal);

        await stream.WriteAsync("GET /echo HTTP/1.1\r\nHost: allowed.test\r\n\r\n"u8.ToArray(), TestContext.Current.CancellationToken);

        Assert.Equal("", await EgressHarness.ReadToEndAsync(stream));
        Assert.Equal(EgressReasons.NotTls, (await h.NextRecordAsync()).Reason);
        Assert.Empty(origin.Heads);
    }

    [Theory]
    [InlineData("GET https://allowed.test:{0}/echo HTTP/1.1\r\nHost: allowed.test:{0}\r\n\r\n")]
    [InlineData("GET http://allowed.test:{0}/echo HTTP/1.1\r\nHost: other.test:{0}\r\n\r\n")]
    [InlineData("GET http://user:pw@allowed.test:{0}/echo HTTP/1.1\r\nHost: allowed.test:{0}\r\n\r\n")]
    [InlineData("POST http://allowed.test:{0}/echo HTTP/1.1\r\nHost: allowed.test:{0}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")]
    [InlineData("POST http://allowed.test:{0}/echo HTTP/1.1\r\nHost: allowed.test:{0}\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello")]
    [InlineData("GET http://allowed.test:{0}/echo HTTP/1.1\r\nHost: allowed.test:{0}\r\nX-A: 1\r\n  folded\r\n\r\n")]
    [InlineData("GET http://allowed.test:{0}/echo HTTP/1.1\r\nHost: allowed.test:{0}\r\nUpgrade: websocket\r\n\r\n")]
    public async Task HostileHead_Refused400AndOriginUntouched(string request)
    {
        await using var origin = new TestOrigin();
        await using var h = new EgressHarness(Options(origin.Port));

        var answer = await h.SendRawAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, request, origin.Port));

        Assert.StartsWith("HTTP/1.1 400 ", answer, StringComparison.Ordinal);
        Assert.Contains("reason=bad_request", answer, StringComparison.Ordinal);
        Assert.Equal(0, origin.Accepted);
    }

    [Fact]
    public async Task Head_Over16KiB_Refused400()
    {
        await using var origin = new TestOrigin();
        await using var h = new EgressHarness(Options(origin.Port));

        var answer = await h.SendRawAsync($"GET http://allowed.test:{origin.Port}/echo HTTP/1.1\r\nHost: allowed.test:{origin.Port}\r\nX-Big: {new string('a', 20 * 1024)}\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 400 ", answer, StringComparison.Ordinal);
        Assert.Equal(0, origin.Accepted);
    }

    [Fact]
    public async Task Post_WithBody_ForwardsExactlyTheBody()
    {
        await using var origin = new TestOrigin();
        await using var h = new EgressHarness(Options(origin.Port));

        // A second request pipelined behind the first must not reach the origin: one request per connection.
        var answer = await h.SendRawAsync($"POST http://allowed.test:{origin.Port}/echo HTTP/1.1\r\nHost: allowed.test:{origin.Port}\r\nContent-Length: 5\r\n\r\nhello"
            + $"GET /smuggled HTTP/1.1\r\nHost: allowed.test:{origin.Port}\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200 ", answer, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\nhello", answer, StringComparison.Ordinal);
        Assert.Single(origin.Heads);
        Assert.DoesNotContain("smuggled", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CapBytes_CutsTheTransferAndRefusesAfter()
    {
        await using var origin = new TestOrigin();
        await using var h = new EgressHarness(Options(origin.Port), caps: new EgressCaps(256 * 1024, 100, 10, TimeSpan.FromSeconds(30)));

        var answer = await h.SendRawAsync($"GET http://allowed.test:{origin.Port}/bytes/4194304 HTTP/1.1\r\nHost: allowed.test:{origin.Port}\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200 ", answer, StringComparison.Ordinal);
        Assert.InRange(answer.Length, 1, 256 * 1024);
        var record = await h.NextRecordAsync();
        Assert.Equal(EgressReasons.CapBytes, record.Reason);
        Assert.InRange(record.BytesSent + record.BytesReceived, 1, 256 * 1024);
        var after = await h.SendRawAsync($"GET http://allowed.test:{origin.Port}/echo HTTP/1.1\r\nHost: allowed.test:{origin.Port}\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 403 ", after, StringComparison.Ordinal);
        Assert.Contains("reason=cap_bytes", after, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CapConnections_FourthRefused()
    {
        await using var origin = new TestOrigin();
        await using var h = new EgressHarness(Options(origin.Port), caps: new EgressCaps(1 << 20, 3, 10, TimeSpan.FromSeconds(30)));
        var request = $"GET http://allowed.test:{origin.Port}/echo HTTP/1.1\r\nHost: allowed.test:{origin.Port}\r\n\r\n";

        for (var i = 0; i < 3; i++) Assert.StartsWith("HTTP/1.1 200 ", await h.SendRawAsync(request), StringComparison.Ordinal);
        var fourth = await h.SendRawAsync(request);

        Assert.StartsWith("HTTP/1.1 403 ", fourth, StringComparison.Ordinal);
        Assert.Contains("reason=cap_connections", fourth, StringComparison.Ordinal);
        Assert.Equal(3, origin.Accepted);
    }

    [Fact]
    public async Task Revoke_ClosesLiveTunnelAndRefusesNewOnes()
    {
        using var pki = new TestPki();
        using var leaf = pki.Leaf("allowed.test");
        await using var origin = new TestOrigin(leaf);
        await using var h = new EgressHarness(Options(origin.Port));
        await using var stream = await h.ConnectAsync();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT allowed.test:{origin.Port} HTTP/1.1\r\nHost: allowed.test:{origin.Port}\r\n\r\n"), TestContext.Current.CancellationToken);
        Assert.StartsWith("HTTP/1.1 200 ", await EgressHarness.ReadHeadAsync(stream), StringComparison.Ordinal);
        await using var ssl = new SslStream(stream, leaveInnerStreamOpen: true, (_, c, _, e) => pki.Validate(c as System.Security.Cryptography.X509Certificates.X509Certificate2, e));
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "allowed.test" }, TestContext.Current.CancellationToken);
        await ssl.WriteAsync("GET /hold HTTP/1.1\r\nHost: allowed.test\r\n\r\n"u8.ToArray(), TestContext.Current.CancellationToken);
        Assert.StartsWith("HTTP/1.1 200 ", await EgressHarness.ReadHeadAsync(ssl), StringComparison.Ordinal);

        h.Grant.Revoke();

        await origin.HoldClosed.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        var rest = new byte[4096];
        int n;
        try { while ((n = await ssl.ReadAsync(rest, TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken)) > 0) { } }
        catch (IOException) { } // a reset is a close too
        Assert.Equal(EgressReasons.Revoked, (await h.NextRecordAsync()).Reason);
        var after = await h.SendRawAsync($"GET http://allowed.test:{origin.Port}/echo HTTP/1.1\r\nHost: allowed.test:{origin.Port}\r\n\r\n");
        Assert.Contains("reason=no_grant", after, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OwnEndpoint_RefusedEvenInsideOpenedRange()
    {
        await using var origin = new TestOrigin();
        // The operator opened exactly this port, but it is (as far as the proxy knows) Warden's own listener.
        await using var h = new EgressHarness(Options(origin.Port, allow: $"warden.test:{origin.Port}", extraHosts: "warden.test=127.0.0.1"),
            ownEndpoints: [new IPEndPoint(IPAddress.Loopback, origin.Port)]);

        var answer = await h.SendRawAsync($"GET http://warden.test:{origin.Port}/echo HTTP/1.1\r\nHost: warden.test:{origin.Port}\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 403 ", answer, StringComparison.Ordinal);
        Assert.Contains("reason=own_endpoint", answer, StringComparison.Ordinal);
        Assert.Equal(0, origin.Accepted);
    }

    [Fact]
    public async Task OwnWildcardEndpoint_RefusedOnLoopback()
    {
        await using var origin = new TestOrigin();
        await using var h = new EgressHarness(Options(origin.Port, allow: $"warden.test:{origin.Port}", extraHosts: "warden.test=127.0.0.1"),
            ownEndpoints: [new IPEndPoint(IPAddress.IPv6Any, origin.Port)]);

        var answer = await h.SendRawAsync($"GET http://warden.test:{origin.Port}/echo HTTP/1.1\r\nHost: warden.test:{origin.Port}\r\n\r\n");

        Assert.Contains("reason=own_endpoint", answer, StringComparison.Ordinal);
        Assert.Equal(0, origin.Accepted);
    }

    [Fact]
    public async Task LoopbackPortNotOpened_RefusedPrivateAddress()
    {
        await using var origin = new TestOrigin();
        await using var other = new TestOrigin();
        await using var h = new EgressHarness(Options(origin.Port, allow: "allowed.test:*"));

        var answer = await h.SendRawAsync($"GET http://allowed.test:{other.Port}/echo HTTP/1.1\r\nHost: allowed.test:{other.Port}\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 403 ", answer, StringComparison.Ordinal);
        Assert.Contains("reason=private_address", answer, StringComparison.Ordinal);
        Assert.Equal(0, other.Accepted);
    }
}
