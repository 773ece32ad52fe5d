namespace Warden.Core.Egress;

/// <summary>The reason words of refusals and closed tunnels: in the <c>X-Warden-Egress</c> header, audit and metrics.</summary>
public static class EgressReasons
{
    public const string NotAllowed = "not_allowed";
    public const string IpLiteral = "ip_literal";
    public const string PrivateAddress = "private_address";
    public const string OwnEndpoint = "own_endpoint";
    public const string DnsFailed = "dns_failed";
    public const string ConnectFailed = "connect_failed";
    public const string SniMismatch = "sni_mismatch";
    public const string NotTls = "not_tls";
    public const string BadRequest = "bad_request";
    public const string CapBytes = "cap_bytes";
    public const string CapConnections = "cap_connections";
    public const string CredentialedUseHttp = "credentialed_use_http";
    public const string NoGrant = "no_grant";
    /// <summary>The proxy's own TLS to a credentialed origin failed verification: nothing was sent.</summary>
    public const string UpstreamTls = "upstream_tls";
    /// <summary>The client did not complete the TLS handshake with the proxy's own certificate (terminated hosts).</summary>
    public const string TlsTermination = "tls_termination";
    /// <summary>A tunnel closed by <see cref="EgressGrant.Revoke"/>.</summary>
    public const string Revoked = "revoked";
    /// <summary>A tunnel closed after no byte either way for the idle timeout.</summary>
    public const string IdleTimeout = "idle_timeout";
    /// <summary>The client sent nothing usable before the head timeout.</summary>
    public const string HeadTimeout = "head_timeout";
}
