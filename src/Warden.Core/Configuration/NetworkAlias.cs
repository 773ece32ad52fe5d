using Microsoft.Extensions.Configuration;

namespace Warden.Core.Configuration;

/// <summary>
/// The old host-network switch as an alias (issue 19): <c>WARDEN_ALLOW_NETWORK=true</c> (and Sandbox Executor's
/// <c>NETWORK_MODE=bridge|host</c>, which sets it) means <c>WARDEN_EGRESS_ALLOW=*</c> when the ceiling is not set.
/// Safe because <c>*</c> through the proxy is strictly narrower than the host's network was: only HTTP(S) to public
/// names, never loopback, private, link-local (metadata) or Warden's own addresses.
/// </summary>
public static class NetworkAlias
{
    public const string OldKey = "Warden:Limits:AllowNetwork";
    public const string CeilingKey = "Warden:Egress:Allow";

    /// <summary>What an operator who set the old switch reads at start-up.</summary>
    public const string Changed =
        "Sandboxes no longer get the host's network: granted network now goes through Warden's egress proxy only, as if " +
        "WARDEN_EGRESS_ALLOW=* were set. Programs reach public host names over HTTP and HTTPS (HTTP_PROXY/HTTPS_PROXY are set for them); " +
        "loopback, private and link-local addresses (the cloud metadata address), the host's own addresses and Warden's port are refused; " +
        "raw TCP/UDP, DNS, ssh and git:// reach nothing. Name hosts with WARDEN_EGRESS_ALLOW and open internal mirrors with " +
        "WARDEN_EGRESS_HOSTS and WARDEN_EGRESS_ALLOW_PRIVATE; then remove WARDEN_ALLOW_NETWORK / NETWORK_MODE.";

    /// <summary>
    /// True when <paramref name="configuration"/> turns the old switch on and leaves the ceiling unset (an explicitly
    /// empty <c>WARDEN_EGRESS_ALLOW=</c> wins: the operator said no egress).
    /// </summary>
    public static bool Applies(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return configuration[CeilingKey] is null
            && bool.TryParse(configuration[OldKey], out bool on) && on;
    }

    /// <summary>The ceiling <paramref name="configuration"/> means: the set one, else <c>*</c> by the alias, else empty.</summary>
    public static string Ceiling(IConfiguration configuration) =>
        Applies(configuration) ? "*" : configuration[CeilingKey] ?? "";
}
