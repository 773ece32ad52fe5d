using System.Net;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Warden.Core.Configuration;
using Warden.Server.Data;

namespace Warden.Server.Cluster;

/// <summary>
/// Decides, before anything starts, whether this server is one replica of several, and who it is. Every refusal names
/// the setting to fix: cluster mode without a shared database, an id other replicas could not address, an advertise URL
/// that other machines could not reach.
/// </summary>
public static partial class ClusterSetup
{
    public const string EnabledSetting = "Warden:Cluster:Enabled (WARDEN_CLUSTER_ENABLED)";
    public const string ReplicaIdSetting = "Warden:Cluster:ReplicaId (WARDEN_CLUSTER_REPLICA_ID)";
    public const string AdvertiseUrlSetting = "Warden:Cluster:AdvertiseUrl (WARDEN_CLUSTER_ADVERTISE_URL)";

    /// <summary>This replica's identity, or null when the server runs on its own.</summary>
    public static ReplicaIdentity? Resolve(IConfiguration configuration, DatabaseKind database, string listenUrls)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection(ClusterOptions.Section);
        var enabled = (section["Enabled"] ?? "auto").Trim().ToLowerInvariant();
        if (enabled is not ("auto" or "true" or "false"))
            throw new InvalidConfigurationException(EnabledSetting, $"must be auto, true or false (got '{section["Enabled"]}').");
        var replicaId = Blank(section["ReplicaId"]);
        var advertise = Blank(section["AdvertiseUrl"]);
        if (enabled == "false" || (enabled == "auto" && replicaId is null && advertise is null)) return null;
        if (database != DatabaseKind.Postgres)
        {
            var asked = enabled == "true" ? EnabledSetting : replicaId is not null ? ReplicaIdSetting : AdvertiseUrlSetting;
            throw new InvalidConfigurationException(asked,
                "replicas must share a PostgreSQL database (WARDEN_DATABASE_URL=postgres://…); the default SQLite file belongs to one host.");
        }
        return ReplicaIdentity.Create(replicaId is null ? DefaultReplicaId() : CheckReplicaId(replicaId),
            advertise is null ? AdvertiseFromListen(listenUrls) : CheckAdvertiseUrl(advertise));
    }

    /// <summary>The host name (a pod's name) and a random suffix: distinct for several processes on one host, new at every start.</summary>
    public static string DefaultReplicaId()
    {
        var host = HostCharacters().Replace(Environment.MachineName.ToLowerInvariant(), "-").Trim('-', '.');
        if (host.Length == 0) host = "warden";
        return $"{host[..Math.Min(host.Length, 48)]}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
    }

    public static string CheckReplicaId(string value) => ReplicaIdPattern().IsMatch(value) ? value
        : throw new InvalidConfigurationException(ReplicaIdSetting,
            $"must be 1 to 253 letters, digits, '.', '_' or '-' (a pod name fits), starting with a letter or digit (got '{value}').");

    public static Uri CheckAdvertiseUrl(string value)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new InvalidConfigurationException(AdvertiseUrlSetting, $"must be an absolute http(s) URL such as http://10.0.0.7:8090 (got '{value}').");
        if (uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
            throw new InvalidConfigurationException(AdvertiseUrlSetting, $"must be the server's root, with no path, query or user (got '{value}').");
        if (IsWildcard(uri.Host) || uri.Port == 0)
            throw new InvalidConfigurationException(AdvertiseUrlSetting, $"must name one reachable address and port, not a wildcard (got '{value}').");
        return new Uri(uri.GetLeftPart(UriPartial.Authority));
    }

    /// <summary>The first listen URL, when it names one concrete address; other replicas cannot reach 0.0.0.0 or port 0.</summary>
    public static Uri AdvertiseFromListen(string listenUrls)
    {
        var first = listenUrls.Split(';', ',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
        var normalized = first.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal);
        if (!Uri.TryCreate(normalized, UriKind.Absolute, out var uri) || IsWildcard(uri.Host) || uri.Port == 0)
            throw new InvalidConfigurationException(AdvertiseUrlSetting,
                $"is required when the server listens on '{first}' (a wildcard address or port 0): set the URL the other replicas reach this one at, " +
                "e.g. http://$(POD_IP):8090.");
        return new Uri(uri.GetLeftPart(UriPartial.Authority));
    }

    private static bool IsWildcard(string host)
    {
        var bare = host.Trim('[', ']');
        return bare is "*" or "+" || (IPAddress.TryParse(bare, out var address) && (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)));
    }

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")]
    private static partial Regex ReplicaIdPattern();

    [GeneratedRegex("[^a-z0-9.-]+")]
    private static partial Regex HostCharacters();
}
