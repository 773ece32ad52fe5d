using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Warden.Core.Egress;

namespace Warden.Core.Tests.Egress;

/// <summary>
/// <c>terminate: true</c>: CONNECT to a credentialed host is answered by the proxy's own TLS (a CA it mints in memory,
/// name-constrained to the terminated hosts), so the secret is added to https:// requests without entering the sandbox.
/// </summary>
public sealed class EgressTerminationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("warden-egress-").FullName;
    private readonly string _secret = "Bearer s3cret-" + Guid.NewGuid().ToString("N");

    private EgressOptions Options(int port, string upstreamCa)
    {
        var path = Path.Combine(_dir, "credentials.json");
        File.WriteAllText(path, $$"""[{"host": "api.test", "header": "Authorization", "value": "{{_secret}}", "upstream": "https", "terminate": true}]""");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return new EgressOptions
        {
            Allow = $"api.test:{port},allowed.test:{port}",
            Hosts = "api.test=127.0.0.1,allowed.test=127.0.0.1",
            AllowPrivate = $"127.0.0.1/32:{port}",
            CredentialsFile = path,
            UpstreamCa = upstreamCa,
        };
    }

    private async Task<(TestPki Pki, X509Certificate2 Leaf, TestOrigin Origin, EgressHarness Harness)> StartAsync()
    {
        var pki = new TestPki();
        var leaf = pki.Leaf("api.test");
        var caFile = Path.Combine(_dir, "origin-ca.pem");
        await File.WriteAllTextAsync(caFile, pki.CaPem, TestContext.Current.CancellationToken);
        var origin = new TestOrigin(leaf);
        return (pki, leaf, origin, new EgressHarness(Options(origin.Port, caFile)));
    }

    // Trusts the proxy's CA only: what a sandbox given the bundle does for this name.
    private static bool TrustsOnly(X509Certificate2 ca, X509Certificate? certificate, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != 0) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }

    private static int Count(string text, string line) =>
        text.Split("\r\n").Count(l => l.StartsWith(line, StringComparison.OrdinalIgnoreCase));

    [Fact]
    public async Task Https_ThroughTerminatingProxy_CarriesWardensHeaderOnly()
    {
        var (pki, leaf, origin, h) = await StartAsync();
        using var _p = pki;
        using var _l = leaf;
        await using var _o = origin;
        await using var _h = h;
        var ca = h.Proxy.CertificateAuthority!.Certificate;
        using var handler = new SocketsHttpHandler { Proxy = new System.Net.WebProxy(h.ProxyUri), UseProxy = true, PooledConnectionLifetime = TimeSpan.Zero };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, c, _, e) => TrustsOnly(ca, c, e);
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(20) };
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"https://api.test:{origin.Port}/echo"));
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer forged");

        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.StartsWith("GET /echo HTTP/1.1\r\n", body, StringComparison.Ordinal);
        Assert.Equal(1, Count(body, "Authorization:"));
        Assert.Contains($"\r\nAuthorization: {_secret}\r\n", body, StringComparison.Ordinal);
        Assert.DoesNotContain("forged", body, StringComparison.Ordinal);
        var record = await h.NextRecordAsync();
        Assert.True(record.Allowed);
        Assert.True(record.CredentialsInjected);
    }

    [Fact]
    public async Task ClientNotTrustingWardensCa_NothingReachesTheOrigin()
    {
        var (pki, leaf, origin, h) = await StartAsync();
        using var _p = pki;
        using var _l = leaf;
        await using var _o = origin;
        await using var _h = h;
        using var client = h.Client(pki); // trusts the origin's CA, not Warden's: as a pinned client would

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetStringAsync(new Uri($"https://api.test:{origin.Port}/echo"), TestContext.Current.CancellationToken));

        var record = await h.NextRecordAsync();
        Assert.False(record.Allowed);
        Assert.Equal(EgressReasons.TlsTermination, record.Reason);
        Assert.False(record.CredentialsInjected);
        Assert.Empty(origin.Heads);
    }

    [Theory]
    [InlineData("other.test")]
    [InlineData("allowed.test")]
    public async Task InnerHostDiffersFromConnectHost_Refused400(string innerHost)
    {
        var (pki, leaf, origin, h) = await StartAsync();
        using var _p = pki;
        using var _l = leaf;
        await using var _o = origin;
        await using var _h = h;
        await using var stream = await h.ConnectAsync();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT api.test:{origin.Port} HTTP/1.1\r\nHost: api.test:{origin.Port}\r\n\r\n"), TestContext.Current.CancellationToken);
        Assert.StartsWith("HTTP/1.1 200 ", await EgressHarness.ReadHeadAsync(stream), StringComparison.Ordinal);
        var ca = h.Proxy.CertificateAuthority!.Certificate;
        await using var tls = new SslStream(stream, leaveInnerStreamOpen: true, (_, c, _, e) => TrustsOnly(ca, c, e));
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "api.test" }, TestContext.Current.CancellationToken);

        // The credentials were decided for api.test; a Host naming another site must not carry them anywhere.
        await tls.WriteAsync(Encoding.ASCII.GetBytes($"GET /echo HTTP/1.1\r\nHost: {innerHost}\r\n\r\n"), TestContext.Current.CancellationToken);
        var answer = await EgressHarness.ReadToEndAsync(tls);

        Assert.StartsWith("HTTP/1.1 400 ", answer, StringComparison.Ordinal);
        Assert.Contains("reason=bad_request", answer, StringComparison.Ordinal);
        Assert.Empty(origin.Heads);
        Assert.False((await h.NextRecordAsync()).CredentialsInjected);
    }

    [Fact]
    public async Task SniDiffersFromConnectHost_ClosedBeforeHandshake()
    {
        var (pki, leaf, origin, h) = await StartAsync();
        using var _p = pki;
        using var _l = leaf;
        await using var _o = origin;
        await using var _h = h;
        await using var stream = await h.ConnectAsync();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT api.test:{origin.Port} HTTP/1.1\r\nHost: api.test:{origin.Port}\r\n\r\n"), TestContext.Current.CancellationToken);
        Assert.StartsWith("HTTP/1.1 200 ", await EgressHarness.ReadHeadAsync(stream), StringComparison.Ordinal);
        var ca = h.Proxy.CertificateAuthority!.Certificate;
        await using var tls = new SslStream(stream, leaveInnerStreamOpen: true, (_, c, _, e) => TrustsOnly(ca, c, e));

        await Assert.ThrowsAnyAsync<Exception>(() => tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "allowed.test" }, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));

        Assert.Equal(EgressReasons.SniMismatch, (await h.NextRecordAsync()).Reason);
        Assert.Empty(origin.Heads);
    }

    [Fact]
    public void Ca_IsNameConstrained_ALeafForAnotherNameDoesNotValidate()
    {
        // The same extension the proxy's CA carries, on a CA whose key the test holds, so it can sign what the proxy never would.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=constrained", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(EgressCertificateAuthority.NameConstraints(["api.test"]));
        using var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));

        using var own = Leaf(ca, key, "api.test");
        using var other = Leaf(ca, key, "pypi.org");
        using var suffixed = Leaf(ca, key, "api.test.evil.example");

        Assert.True(Validates(ca, own));
        Assert.False(Validates(ca, other));
        Assert.False(Validates(ca, suffixed));
    }

    [Fact]
    public void Ca_LeavesValidateForTheirHost_AndTheBundleCarriesTheSystemRoots()
    {
        using var authority = new EgressCertificateAuthority(["api.test"], TimeProvider.System);
        var leaf = authority.LeafFor("api.test");

        Assert.True(leaf.HasPrivateKey);
        Assert.True(Validates(authority.Certificate, leaf));
        Assert.Equal("api.test", leaf.GetNameInfo(X509NameType.DnsName, false));
        Assert.Same(leaf, authority.LeafFor("api.test"));
        Assert.Throws<ArgumentException>(() => authority.LeafFor("pypi.org"));
        var bundle = authority.BundlePem();
        Assert.EndsWith(authority.CertificatePem, bundle, StringComparison.Ordinal);
        if (File.Exists("/etc/ssl/certs/ca-certificates.crt"))
            Assert.StartsWith(File.ReadAllText("/etc/ssl/certs/ca-certificates.crt")[..64], bundle, StringComparison.Ordinal);
    }

    [Fact]
    public void Ca_LeavesRenewedBeforeExpiry_AndNoneAfterTheCaExpired()
    {
        var time = new ShiftedTime();
        using var authority = new EgressCertificateAuthority(["api.test"], time);
        var first = authority.LeafFor("api.test");

        time.Shift = TimeSpan.FromHours(23.5);
        var renewed = authority.LeafFor("api.test");
        Assert.NotSame(first, renewed);
        Assert.True(renewed.NotAfter.ToUniversalTime() > first.NotAfter.ToUniversalTime());

        time.Shift = EgressCertificateAuthority.Validity + TimeSpan.FromHours(1);
        Assert.Throws<CryptographicException>(() => authority.LeafFor("api.test"));
    }

    private sealed class ShiftedTime : TimeProvider
    {
        public TimeSpan Shift { get; set; }

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Shift;
    }

    private static X509Certificate2 Leaf(X509Certificate2 ca, ECDsa caKey, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        return request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1), RandomNumberGenerator.GetBytes(8));
    }

    private static bool Validates(X509Certificate2 ca, X509Certificate2 leaf)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(leaf);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
