using System.Collections.Concurrent;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Warden.Core.Egress;

/// <summary>
/// The CA the proxy terminates TLS with, for credentialed hosts marked <c>terminate: true</c> only. Minted at each start
/// in memory (the key is never written anywhere), ECDSA P-256, valid <see cref="Validity"/>, and name-constrained to the
/// terminated hosts: a sandbox that trusts it trusts it for those names and nothing else, so a leaked key could not
/// impersonate any other site to it. Leaves (24 h, one per host) are made on first use and cached.
/// </summary>
public sealed class EgressCertificateAuthority : IDisposable
{
    /// <summary>How long one CA is valid from its minting; <see cref="EgressTrust"/> rotates long before (two generations).</summary>
    public static readonly TimeSpan Validity = TimeSpan.FromDays(7);
    private static readonly TimeSpan LeafValidity = TimeSpan.FromHours(24);
    private static readonly TimeSpan Skew = TimeSpan.FromMinutes(5);
    private const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";
    private const string NameConstraintsOid = "2.5.29.30";

    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _certificate;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, X509Certificate2> _leaves = new(StringComparer.Ordinal);
    private readonly Lock _mint = new();

    /// <param name="hosts">The terminated hosts (normalized names); the CA may vouch for these and nothing else.</param>
    public EgressCertificateAuthority(IReadOnlyCollection<string> hosts, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(hosts);
        if (hosts.Count == 0) throw new ArgumentException("a CA for no host would constrain nothing", nameof(hosts));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        Hosts = hosts.ToArray();
        var now = time.GetUtcNow();
        var request = new CertificateRequest(new X500DistinguishedName("CN=Warden egress CA, O=Warden"), _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(NameConstraints(Hosts));
        _certificate = request.CreateSelfSigned(now - Skew, now + Validity);
        CertificatePem = _certificate.ExportCertificatePem() + "\n";
    }

    public IReadOnlyList<string> Hosts { get; }

    /// <summary>The CA certificate alone (PEM): <c>NODE_EXTRA_CA_CERTS</c> adds it to node's built-in roots.</summary>
    public string CertificatePem { get; }

    /// <summary>The CA certificate (public part only).</summary>
    public X509Certificate2 Certificate => _certificate;

    /// <summary>
    /// The host's trust store followed by this CA (PEM): for <c>SSL_CERT_FILE</c>, <c>REQUESTS_CA_BUNDLE</c>,
    /// <c>CURL_CA_BUNDLE</c>, <c>GIT_SSL_CAINFO</c>, which replace the store, so the bundle must carry the public roots too.
    /// </summary>
    public string BundlePem(string systemBundlePath = "/etc/ssl/certs/ca-certificates.crt")
    {
        var system = File.Exists(systemBundlePath) ? File.ReadAllText(systemBundlePath) : "";
        var text = new StringBuilder(system);
        if (text.Length > 0 && text[^1] != '\n') text.Append('\n');
        return text.Append("# Warden egress CA (TLS terminated by Warden's proxy for: ").AppendJoin(", ", Hosts).Append(")\n")
            .Append(CertificatePem).ToString();
    }

    /// <summary>A leaf (with its private key) for <paramref name="host"/>, which must be one of <see cref="Hosts"/>.</summary>
    public X509Certificate2 LeafFor(string host)
    {
        if (!Hosts.Contains(host, StringComparer.Ordinal)) throw new ArgumentException($"'{host}' is not a terminated host", nameof(host));
        var now = _time.GetUtcNow();
        if (_leaves.TryGetValue(host, out var cached) && cached.NotAfter.ToUniversalTime() - now > TimeSpan.FromHours(1)) return cached;
        lock (_mint)
        {
            if (_leaves.TryGetValue(host, out cached) && cached.NotAfter.ToUniversalTime() - now > TimeSpan.FromHours(1)) return cached;
            var leaf = Mint(host, now);
            // The replaced leaf may still be in a handshake on another thread: it is left to the finalizer, not disposed.
            _leaves[host] = leaf;
            return leaf;
        }
    }

    private X509Certificate2 Mint(string host, DateTimeOffset now)
    {
        var caEnd = _certificate.NotAfter.ToUniversalTime();
        var notAfter = now + LeafValidity < caEnd ? now + LeafValidity : caEnd;
        if (notAfter <= now) throw new CryptographicException("the egress CA has expired; restart Warden to mint a new one");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={host}"), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(host);
        request.CertificateExtensions.Add(san.Build(critical: false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ServerAuthOid)], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_certificate, true, false));
        using var signed = request.Create(_certificate.SubjectName, X509SignatureGenerator.CreateForECDsa(_key), now - Skew, notAfter,
            RandomNumberGenerator.GetBytes(16));
        using var withKey = signed.CopyWithPrivateKey(key);
        // Through PKCS#12 so SslStream gets a key handle it can use as a server on every platform (not an ephemeral one).
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>
    /// NameConstraints (RFC 5280 §4.2.1.10), critical: permitted dNSName subtrees = the hosts; every IPv4 and IPv6
    /// address excluded. .NET has no builder for it, so it is written with <see cref="AsnWriter"/>.
    /// </summary>
    internal static X509Extension NameConstraints(IEnumerable<string> hosts)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0)))
            {
                foreach (var host in hosts)
                {
                    using (writer.PushSequence())
                        writer.WriteCharacterString(UniversalTagNumber.IA5String, host, new Asn1Tag(TagClass.ContextSpecific, 2));
                }
            }
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 1)))
            {
                // iPAddress [7]: address then mask; all zeros = every address of the family.
                using (writer.PushSequence()) writer.WriteOctetString(new byte[8], new Asn1Tag(TagClass.ContextSpecific, 7));
                using (writer.PushSequence()) writer.WriteOctetString(new byte[32], new Asn1Tag(TagClass.ContextSpecific, 7));
            }
        }
        return new X509Extension(NameConstraintsOid, writer.Encode(), critical: true);
    }

    public void Dispose()
    {
        foreach (var leaf in _leaves.Values) leaf.Dispose();
        _certificate.Dispose();
        _key.Dispose();
    }
}
