using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Egress;
using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Egress;

/// <summary>
/// An engine per backend whose proxy terminates TLS for api.test (credentials file: terminate, upstream https) and
/// re-encrypts to a loopback HTTPS origin it trusts through WARDEN_EGRESS_UPSTREAM_CA.
/// </summary>
public sealed class EgressTlsEngines : IAsyncLifetime
{
    private readonly Dictionary<string, TestEngine> _engines = new(StringComparer.Ordinal);
    private readonly string _dir = Directory.CreateTempSubdirectory("warden-egress-tls-").FullName;

    internal TlsOriginServer Origin { get; } = new("api.test");

    public string Secret { get; } = "Bearer tls-s3cret-" + Guid.NewGuid().ToString("N");

    public string CredentialsPath => Path.Combine(_dir, "credentials.json");

    public async ValueTask InitializeAsync()
    {
        File.WriteAllText(CredentialsPath,
            $$"""[{"host": "api.test", "header": "Authorization", "value": "{{Secret}}", "upstream": "https", "terminate": true}]""");
        File.SetUnixFileMode(CredentialsPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var upstreamCa = Path.Combine(_dir, "origin-ca.pem");
        File.WriteAllText(upstreamCa, Origin.CaPem);
        var settings = new Dictionary<string, string?>
        {
            ["Warden:Egress:Allow"] = "api.test:*",
            ["Warden:Egress:Hosts"] = "api.test=127.0.0.1",
            ["Warden:Egress:CredentialsFile"] = CredentialsPath,
            ["Warden:Egress:UpstreamCa"] = upstreamCa,
            ["Warden:Egress:AllowPrivate"] = $"127.0.0.1/32:{Origin.PortText}",
        };
        foreach (var backend in Backends.Names) _engines[backend] = await TestEngine.CreateAsync(backend, settings);
    }

    public TestEngine this[string backend] => _engines[backend];

    public async ValueTask DisposeAsync()
    {
        var leaks = new List<string>();
        foreach (var engine in _engines.Values)
        {
            await engine.DisposeAsync();
            if (engine.Instance is { } instance) leaks.AddRange(HostLeaks.ForInstance(instance));
        }
        await Origin.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
        if (leaks.Count > 0) throw new InvalidOperationException("Disposing the egress TLS engines left things behind:\n" + string.Join("\n", leaks));
    }
}

[CollectionDefinition(nameof(EgressTlsCollection))]
public sealed class EgressTlsCollection : ICollectionFixture<EgressTlsEngines>;

/// <summary>
/// TLS terminated by Warden's proxy (design §3.6): python inside the sandbox fetches https://api.test through the proxy
/// trusting Warden's CA from the bundle bound at /etc/warden; the origin sees Warden's credential header, re-encrypted;
/// the sandbox never sees the secret, cannot rewrite the bundle, and only the CA's public certificate is in it.
/// </summary>
[Collection(nameof(EgressTlsCollection))]
public sealed class EgressTrustTests(EgressTlsEngines engines)
{
    internal const string SearchSecret = """
        found = []
        if needle in '\0'.join(f'{k}={v}' for k, v in os.environ.items()).encode(): found.append('environ')
        for root in ['/proc', '/etc', '/tmp', os.getcwd(), os.path.expanduser('~')]:
            for base, dirs, files in os.walk(root):
                if base.startswith('/proc/') and base.count('/') > 2:
                    dirs[:] = []
                if base == '/proc':
                    dirs[:] = [d for d in dirs if d.isdigit() or d == 'self']
                    files = []
                for name in files:
                    path = os.path.join(base, name)
                    if base.startswith('/proc') and name not in ('environ', 'cmdline'): continue
                    try:
                        with open(path, 'rb') as f:
                            if needle in f.read(1 << 20): found.append(path)
                    except OSError:
                        pass
        print('found', found)
        """;

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Https_TerminatedByProxy_OriginSeesCredential_SandboxTrustsBundleOnly(string backend)
    {
        if (!Environment.IsPrivilegedProcess) throw SandboxRequirement.Unavailable("egress", "egress namespaces need Warden as root");
        var engine = engines[backend];
        string mark = Guid.NewGuid().ToString("N");
        int half = engines.Secret.Length / 2;
        string first = engines.Secret[..half], second = engines.Secret[half..];
        string url = $"https://api.test:{engines.Origin.PortText}/{mark}";

        var result = await engine.Engine.RunAsync(Run.Python($$"""
            import os, ssl, urllib.request
            for name in ['SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'PIP_CERT', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO', 'NODE_EXTRA_CA_CERTS']:
                print('env', name, os.environ.get(name))
            with open('/etc/warden/ca.pem') as f: print('ca certs', f.read().count('BEGIN CERTIFICATE'))
            with open('/etc/warden/ca-bundle.pem') as f: bundle = f.read()
            print('bundle private key', 'PRIVATE KEY' in bundle)
            try:
                open('/etc/warden/ca-bundle.pem', 'a').close()
                print('bundle writable True')
            except OSError as e:
                print('bundle writable False', e.errno)
            request = urllib.request.Request('{{url}}-urllib', headers={'Authorization': 'Bearer mine'})
            print('urllib', urllib.request.urlopen(request, timeout=30).read().decode().split('\r\n')[0])
            try:
                import requests
            except ImportError:
                print('requests absent')
            else:
                r = requests.get('{{url}}-requests', headers={'Authorization': 'Bearer mine'}, timeout=30)
                print('requests', r.status_code, r.text.split('\r\n')[0])
            # Without the bundle (python's compiled-in default paths, SSL_CERT_FILE ignored) Warden's leaf is not trusted.
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.load_verify_locations(cafile='/etc/ssl/certs/ca-certificates.crt') if os.path.exists('/etc/ssl/certs/ca-certificates.crt') else None
            try:
                urllib.request.urlopen('{{url}}-untrusted', timeout=30, context=context)
                print('untrusted ok')
            except OSError as e:
                print('untrusted refused', type(e).__name__)
            needle = ('{{first}}' + '{{second}}').encode()
            {{SearchSecret}}
            """) with { Network = true }, 120);
        Run.AssertStatus(ExecutionStatus.Success, result);
        var stdout = result.Run.Stdout;

        foreach (var name in new[] { "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO" })
            Assert.Contains($"env {name} /etc/warden/ca-bundle.pem\n", stdout, StringComparison.Ordinal);
        Assert.Contains("env NODE_EXTRA_CA_CERTS /etc/warden/ca.pem\n", stdout, StringComparison.Ordinal);
        Assert.Contains("ca certs 2\n", stdout, StringComparison.Ordinal);
        Assert.Contains("bundle private key False\n", stdout, StringComparison.Ordinal);
        Assert.Contains("bundle writable False", stdout, StringComparison.Ordinal);
        Assert.Contains($"urllib GET /{mark}-urllib HTTP/1.1\n", stdout, StringComparison.Ordinal);
        Assert.Contains("untrusted refused", stdout, StringComparison.Ordinal);
        Assert.Contains("found []", stdout, StringComparison.Ordinal);

        // The origin got the request over TLS with exactly one Authorization: Warden's, never the sandbox's own.
        foreach (var client in stdout.Contains("requests absent", StringComparison.Ordinal) ? ["urllib"] : new[] { "urllib", "requests" })
        {
            var head = Assert.Single(engines.Origin.Requests, r => r.Contains($"/{mark}-{client} ", StringComparison.Ordinal));
            var authorization = Assert.Single(head.Split("\r\n"), l => l.StartsWith("Authorization:", StringComparison.OrdinalIgnoreCase));
            Assert.Equal($"Authorization: {engines.Secret}", authorization);
        }
        Assert.DoesNotContain(engines.Origin.Requests, r => r.Contains($"/{mark}-untrusted", StringComparison.Ordinal));

        // On the host: the files sandboxes bind, 0644, owned by root, holding the proxy's current and next CA.
        var trust = engine.Services.GetRequiredService<EgressProxy>().Trust!;
        foreach (var path in new[] { trust.Files!.BundlePath, trust.Files.CaPath })
        {
            Assert.Equal((UnixFileMode)Convert.ToInt32("644", 8), File.GetUnixFileMode(path));
            Assert.Equal(0u, Warden.Core.State.FileStatus.OfPath(path)!.Value.Uid);
        }
        Assert.Equal(trust.Current.CertificatePem + trust.Next.CertificatePem, File.ReadAllText(trust.Files.CaPath));
        Assert.True(result.Egress!.Connections >= 2, $"usage {result.Egress}");
    }
}

/// <summary>A proxy without termination: a sandbox granted egress gets no CA files and none of the TLS variables.</summary>
[Collection(nameof(EgressCollection))]
public sealed class EgressNoTrustTests(EgressEngines engines)
{
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task WithoutTermination_NoBundle(string backend)
    {
        if (!Environment.IsPrivilegedProcess) throw SandboxRequirement.Unavailable("egress", "egress namespaces need Warden as root");
        Assert.Null(engines[backend].Services.GetRequiredService<EgressProxy>().Trust);

        var result = await engines[backend].Engine.RunAsync(Run.Python("""
            import os
            for name in ['SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'PIP_CERT', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO', 'NODE_EXTRA_CA_CERTS']:
                print('env', name, os.environ.get(name))
            for path in ['/etc/warden/ca-bundle.pem', '/etc/warden/ca.pem']:
                print('size', path, os.path.getsize(path) if os.path.exists(path) else 'absent')
            print('proxy', os.environ.get('HTTPS_PROXY'))
            """) with { Network = true }, 60);
        Run.AssertStatus(ExecutionStatus.Success, result);
        var stdout = result.Run.Stdout;

        Assert.Contains("proxy http://127.0.0.1:3128\n", stdout, StringComparison.Ordinal);
        foreach (var name in new[] { "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "NODE_EXTRA_CA_CERTS" })
            Assert.Contains($"env {name} None\n", stdout, StringComparison.Ordinal);
        // bwrap and gVisor show the empty mount points of their read-only /etc; Docker has none.
        foreach (var path in new[] { "/etc/warden/ca-bundle.pem", "/etc/warden/ca.pem" })
            Assert.Matches($"size {path} (0|absent)\n", stdout);
    }
}
