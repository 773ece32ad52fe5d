namespace Warden.Server.Auth;

/// <summary>Authentication settings (section <c>Warden</c>; the bootstrap key keeps its historical name).</summary>
public sealed class AuthOptions
{
    /// <summary><c>Warden:ApiKey</c> (WARDEN_API_KEY): a static admin key, for bootstrapping the key store.</summary>
    public string? ApiKey { get; set; }

    /// <summary><c>Warden:Metrics:Anonymous</c>: let anyone read /metrics (otherwise it needs an admin key when auth is on).</summary>
    public bool MetricsAnonymous { get; set; }
}
