using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Warden.Core.Egress;

/// <summary>
/// TLS the proxy itself speaks to an origin (credentialed hosts with <c>upstream: https</c>): SNI and name check =
/// the host, trust = the system store, or else the CAs of <c>WARDEN_EGRESS_UPSTREAM_CA</c>.
/// </summary>
internal sealed class UpstreamTls : IDisposable
{
    private readonly X509Certificate2Collection? _extraRoots;

    public UpstreamTls(string? caFile)
    {
        if (caFile is null) return;
        _extraRoots = [];
        _extraRoots.ImportFromPemFile(caFile);
    }

    public async ValueTask<Stream> WrapAsync(Stream inner, string host, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = host,
                ApplicationProtocols = [SslApplicationProtocol.Http11],
                RemoteCertificateValidationCallback = Validate,
            }, cancellationToken).ConfigureAwait(false);
            return ssl;
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None) return true;
        // A name mismatch or a missing certificate is never forgiven; only an untrusted root, by the operator's CAs.
        if (_extraRoots is null || errors != SslPolicyErrors.RemoteCertificateChainErrors || certificate is null) return false;
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_extraRoots);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            foreach (var element in chain.ChainElements) custom.ChainPolicy.ExtraStore.Add(element.Certificate);
        }
        return custom.Build(leaf);
    }

    public void Dispose()
    {
        if (_extraRoots is null) return;
        foreach (var c in _extraRoots) c.Dispose();
    }
}
