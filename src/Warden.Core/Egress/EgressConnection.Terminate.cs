using System.Net.Security;
using System.Security.Authentication;

namespace Warden.Core.Egress;

internal sealed partial class EgressConnection
{
    /// <summary>
    /// CONNECT to a credentialed host marked <c>terminate: true</c>: the SNI is checked as for any tunnel, then the proxy
    /// answers the TLS itself (a leaf from <see cref="EgressCertificateAuthority"/>), reads one request inside it and
    /// forwards it like plain HTTP, with the host's credentials, over the proxy's own verified TLS to the origin.
    /// </summary>
    private async Task TerminateAsync(byte[] buffer, int consumed, int filled, string host, EgressCredential credential, CancellationToken token)
    {
        filled = await AcknowledgeAndReadHelloAsync(buffer, consumed, filled, host, token).ConfigureAwait(false);
        if (filled < 0) return;
        System.Security.Cryptography.X509Certificates.X509Certificate2 leaf;
        try
        {
            leaf = _proxy.Trust!.LeafFor(host);
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            // Not expected (EgressTrust rotates well before a CA's end); refused rather than served with a bad leaf.
            Log.ConnectionFailed(_proxy.Logger, _grant.RunId, host, e);
            Refused(EgressReasons.TlsTermination);
            return;
        }
        var tls = new SslStream(new PrefixedStream(buffer.AsMemory(0, filled).ToArray(), _rawClientStream), leaveInnerStreamOpen: false);
        _clientStream = tls;
        try
        {
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificate = leaf,
                ApplicationProtocols = [SslApplicationProtocol.Http11],
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ClientCertificateRequired = false,
            }, token).ConfigureAwait(false);
        }
        catch (AuthenticationException)
        {
            // Typically a client that does not trust Warden's CA (not given the bundle, or pinning): nothing was sent.
            Refused(EgressReasons.TlsTermination);
            return;
        }

        // With TLS 1.3 the server's side of the handshake completes before the client has checked the certificate: a
        // client that does not trust Warden's CA says so with an alert (or a close) here, before any request.
        HttpRequestHead? head;
        int innerConsumed, innerFilled;
        try
        {
            (head, innerConsumed, innerFilled) = await ReadHeadAsync(buffer, EgressReasons.TlsTermination, token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException && !token.IsCancellationRequested)
        {
            Refused(EgressReasons.TlsTermination);
            return;
        }
        if (head is null) return;
        _method = head.Method;
        if (head.IsConnect || !head.Target.StartsWith('/'))
        {
            await RefuseAsync(400, EgressReasons.BadRequest, "inside the tunnel, send an origin-form request (GET /path)", token).ConfigureAwait(false);
            return;
        }
        // The origin routes on Host: it must name the host the SNI, the policy and the credentials were decided for.
        if (!EgressTarget.TryFrom(head, out var inner, out var error))
        {
            await RefuseAsync(400, EgressReasons.BadRequest, error!, token).ConfigureAwait(false);
            return;
        }
        var hostHeader = head.Header("Host")!;
        var explicitPort = inner!.Port != 80 || hostHeader.EndsWith(":80", StringComparison.Ordinal);
        if (EgressHostName.Normalize(inner.Host) != host || (explicitPort && inner.Port != _port))
        {
            await RefuseAsync(400, EgressReasons.BadRequest, "the Host header differs from the CONNECT host", token).ConfigureAwait(false);
            return;
        }
        var target = new EgressTarget(host, _port, inner.PathAndQuery);
        await ForwardAsync(head, target, credential, buffer.AsMemory(innerConsumed, innerFilled - innerConsumed), host, upstreamTls: true, token)
            .ConfigureAwait(false);
    }
}
