using System.Collections.Frozen;
using System.Net;
using Warden.Core.Configuration;

namespace Warden.Core.Egress;

/// <summary><see cref="EgressOptions"/> parsed once: the ceiling, name overrides, opened ranges, credentials, caps.</summary>
public sealed record EgressSettings(
    EgressPolicy Ceiling,
    FrozenDictionary<string, IPAddress[]> Hosts,
    IReadOnlyList<PrivateRule> AllowPrivate,
    FrozenDictionary<string, EgressCredential> Credentials,
    EgressCaps Caps,
    TimeSpan ResolveTimeout,
    TimeSpan ConnectTimeout,
    TimeSpan HeadTimeout,
    string? UpstreamCa)
{
    /// <summary>Parses <paramref name="options"/>; throws <see cref="InvalidConfigurationException"/> naming the first bad setting.</summary>
    public static EgressSettings From(EgressOptions options)
    {
        var errors = new List<string>();
        var settings = TryFrom(options, errors);
        if (errors.Count > 0) throw new InvalidConfigurationException("Warden:Egress", string.Join(" ", errors));
        return settings!;
    }

    /// <summary>Parses <paramref name="options"/>, adding one message per problem (each naming its setting).</summary>
    public static EgressSettings? TryFrom(EgressOptions options, ICollection<string> errors)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(errors);
        var before = errors.Count;
        var ceiling = ParsePatterns(options.Allow, errors);

        var opened = new List<PrivateRule>();
        foreach (var item in Split(options.AllowPrivate))
        {
            if (PrivateRule.TryParse(item, out var rule, out var error)) opened.Add(rule!);
            else errors.Add($"WARDEN_EGRESS_ALLOW_PRIVATE (Warden:Egress:AllowPrivate): {error}");
        }

        var hosts = new Dictionary<string, List<IPAddress>>(StringComparer.Ordinal);
        foreach (var item in Split(options.Hosts))
        {
            const string setting = "WARDEN_EGRESS_HOSTS (Warden:Egress:Hosts)";
            var eq = item.IndexOf('=', StringComparison.Ordinal);
            var name = eq > 0 && !EgressHostName.IsLiteral(item[..eq]) ? EgressHostName.Normalize(item[..eq].Trim()) : null;
            if (name is null || !IPAddress.TryParse(item[(eq + 1)..].Trim().Trim('[', ']'), out var address))
            {
                errors.Add($"{setting}: '{item}' is not name=address");
                continue;
            }
            // An override is vetted like any answer from DNS; failing here beats a 403 on every request later.
            if (AddressPolicy.IsRefusedRange(address) && !opened.Any(r => r.Network.Contains(AddressPolicy.Unwrap(address))))
            {
                errors.Add($"{setting}: {name}={address} is in a refused range that WARDEN_EGRESS_ALLOW_PRIVATE does not open");
                continue;
            }
            if (!hosts.TryGetValue(name, out var list)) hosts[name] = list = [];
            list.Add(address);
        }

        var credentials = new Dictionary<string, EgressCredential>(StringComparer.Ordinal);
        if (!string.IsNullOrWhiteSpace(options.CredentialsFile))
        {
            foreach (var c in EgressCredentialsFile.Load(options.CredentialsFile, errors))
            {
                if (!ceiling.Patterns.Any(p => p.MatchesName(c.Host)))
                {
                    errors.Add($"WARDEN_EGRESS_CREDENTIALS_FILE: '{c.Host}' is not within WARDEN_EGRESS_ALLOW");
                    continue;
                }
                credentials[c.Host] = c;
            }
        }
        if (!string.IsNullOrWhiteSpace(options.UpstreamCa) && !File.Exists(options.UpstreamCa))
            errors.Add($"WARDEN_EGRESS_UPSTREAM_CA (Warden:Egress:UpstreamCa): '{options.UpstreamCa}' does not exist");

        if (errors.Count > before) return null;
        return new EgressSettings(
            ceiling,
            hosts.ToFrozenDictionary(kv => kv.Key, kv => kv.Value.ToArray(), StringComparer.Ordinal),
            opened,
            credentials.ToFrozenDictionary(StringComparer.Ordinal),
            new EgressCaps(options.MaxBytes, options.MaxConnections, options.MaxConcurrent, TimeSpan.FromSeconds(options.IdleTimeoutSeconds)),
            TimeSpan.FromSeconds(options.ResolveTimeoutSeconds),
            TimeSpan.FromSeconds(options.ConnectTimeoutSeconds),
            TimeSpan.FromSeconds(options.HeadTimeoutSeconds),
            string.IsNullOrWhiteSpace(options.UpstreamCa) ? null : options.UpstreamCa);
    }

    private static EgressPolicy ParsePatterns(string? list, ICollection<string> errors)
    {
        var patterns = new List<EgressPattern>();
        foreach (var item in Split(list))
        {
            if (EgressPattern.TryParse(item, out var p, out var error)) patterns.Add(p!);
            else errors.Add($"WARDEN_EGRESS_ALLOW (Warden:Egress:Allow): {error}");
        }
        return new EgressPolicy([.. patterns]);
    }

    private static string[] Split(string? list) =>
        (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
