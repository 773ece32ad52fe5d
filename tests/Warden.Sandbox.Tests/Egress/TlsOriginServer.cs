using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Warden.Sandbox.Tests.Egress;

/// <summary>
/// An HTTPS origin on 127.0.0.1 with a CA of the test's own (never trusted by the sandbox: only Warden's proxy is told
/// of it, through WARDEN_EGRESS_UPSTREAM_CA). Answers each request with its own request head, so a test sees the
/// headers that arrived after the proxy re-encrypted the request.
/// </summary>
internal sealed class TlsOriginServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly X509Certificate2 _leaf;
    private readonly Task _loop;

    /// <param name="host">The name the leaf is for (the SNI the proxy sends upstream).</param>
    public TlsOriginServer(string host)
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Warden sandbox-test origin CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        var now = DateTimeOffset.UtcNow;
        using var ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddHours(2));
        CaPem = ca.ExportCertificatePem() + "\n";

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(host);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var signed = request.Create(ca, now.AddMinutes(-5), now.AddHours(1), RandomNumberGenerator.GetBytes(8));
        using var withKey = signed.CopyWithPrivateKey(key);
        _leaf = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);

        _listener.Start();
        _loop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The origin's CA certificate (PEM), for WARDEN_EGRESS_UPSTREAM_CA.</summary>
    public string CaPem { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string PortText => Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>Every request head received over TLS, in order.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
        try
        {
            await using var tls = new SslStream(new NetworkStream(client, ownsSocket: true));
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _leaf }, timeout.Token);
            var buffer = new byte[32 * 1024];
            int used = 0;
            string head = "";
            while (used < buffer.Length)
            {
                int n = await tls.ReadAsync(buffer.AsMemory(used), timeout.Token);
                if (n == 0) break;
                used += n;
                var text = Encoding.ASCII.GetString(buffer, 0, used);
                int end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                if (end < 0) continue;
                head = text[..end];
                break;
            }
            if (head.Length == 0) return;
            Requests.Enqueue(head);
            var body = Encoding.ASCII.GetBytes(head);
            await tls.WriteAsync(Encoding.ASCII.GetBytes(
                $"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n"), timeout.Token);
            await tls.WriteAsync(body, timeout.Token);
            await tls.ShutdownAsync();
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or SocketException or System.Security.Authentication.AuthenticationException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _loop;
        _stop.Dispose();
        _leaf.Dispose();
    }
}
