using Warden.Core.Execution;
using Warden.Core.Sessions;
using Warden.Sandbox.Tests.Egress;

namespace Warden.Sessions.Tests.Egress;

/// <summary>
/// A long-lived sandbox granted network trusts Warden's terminating proxy as a single run does: the CA bundle is bound at
/// /etc/warden for the sandbox's life and the TLS variables point at it, so python in a session fetches an https URL of
/// a terminated host, and the origin sees Warden's credential, never one the sandbox holds. Runs on
/// <c>WARDEN_TEST_BACKEND</c>; loopback only.
/// </summary>
[Collection(nameof(EgressNamespaceCount))]
public sealed class SessionEgressTrustTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Session_TerminatedHttps_TrustsBoundBundle_OriginSeesWardensCredential()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var origin = new TlsOriginServer("api.test");
        var dir = Directory.CreateTempSubdirectory("warden-session-tls-").FullName;
        try
        {
            string secret = "Bearer session-s3cret-" + Guid.NewGuid().ToString("N");
            var credentials = Path.Combine(dir, "credentials.json");
            File.WriteAllText(credentials, $$"""[{"host": "api.test", "header": "Authorization", "value": "{{secret}}", "upstream": "https", "terminate": true}]""");
            File.SetUnixFileMode(credentials, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var upstreamCa = Path.Combine(dir, "origin-ca.pem");
            File.WriteAllText(upstreamCa, origin.CaPem);
            await using var host = await SessionHost.StartAsync(new()
            {
                ["Warden:Egress:Allow"] = "api.test:*",
                ["Warden:Egress:Hosts"] = "api.test=127.0.0.1",
                ["Warden:Egress:CredentialsFile"] = credentials,
                ["Warden:Egress:UpstreamCa"] = upstreamCa,
                ["Warden:Egress:AllowPrivate"] = $"127.0.0.1/32:{origin.PortText}",
            });
            var session = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice"), Network: true), ct).WaitAsync(Wait, ct);
            string mark = Guid.NewGuid().ToString("N");

            var result = await session.ExecuteAsync(new CellRequest($$"""
                import os, urllib.request
                print('env', os.environ.get('SSL_CERT_FILE'), os.environ.get('NODE_EXTRA_CA_CERTS'))
                with open('/etc/warden/ca.pem') as f: print('ca certs', f.read().count('BEGIN CERTIFICATE'))
                request = urllib.request.Request('https://api.test:{{origin.PortText}}/{{mark}}', headers={'Authorization': 'Bearer mine'})
                print('https', urllib.request.urlopen(request, timeout=30).read().decode().split('\r\n')[0])
                """), null, ct).WaitAsync(Wait, ct);
            var stdout = string.Concat(result.Outputs.OfType<StreamOutput>().Where(o => o.Name == "stdout").Select(o => o.Text));
            Assert.True(result.Status == ExecutionStatus.Success, $"{result.Status}: {stdout} {result.Error}");

            Assert.Contains("env /etc/warden/ca-bundle.pem /etc/warden/ca.pem\n", stdout, StringComparison.Ordinal);
            Assert.Contains("ca certs 2\n", stdout, StringComparison.Ordinal);
            Assert.Contains($"https GET /{mark} HTTP/1.1\n", stdout, StringComparison.Ordinal);
            var head = Assert.Single(origin.Requests, r => r.Contains($"/{mark} ", StringComparison.Ordinal));
            Assert.Equal($"Authorization: {secret}", Assert.Single(head.Split("\r\n"), l => l.StartsWith("Authorization:", StringComparison.OrdinalIgnoreCase)));
            await host.Sessions.DeleteAsync(session.Id, Owners.Admin, ct).WaitAsync(Wait, ct);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
