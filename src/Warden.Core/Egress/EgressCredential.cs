namespace Warden.Core.Egress;

/// <summary>
/// A header the proxy adds (replacing the client's own) on requests to <see cref="Host"/>, so the secret never enters
/// the sandbox. <see cref="Upstream"/> <c>https</c>: the proxy speaks TLS to the origin itself.
/// </summary>
public sealed record EgressCredential(string Host, string Header, string Value, EgressUpstream Upstream, bool Terminate)
{
    // The value is a secret: never in logs, audit lines or exception messages.
    public override string ToString() => $"{Host}: {Header} (upstream {Upstream}{(Terminate ? ", terminated" : "")})";
}

public enum EgressUpstream
{
    Http,
    Https,
}
