using Warden.Core.Egress;
using Warden.Core.Execution;

namespace Warden.Core.Networking;

/// <summary>
/// Turns what a request asked for (<c>"network": true</c>, or <c>{"allow": [...]}</c>) into the patterns its grant gets,
/// within the server's ceiling (design §4). The one place every surface (native, streaming, MCP, sessions, kernels,
/// terminals) resolves a network request.
/// </summary>
public static class EgressRequest
{
    /// <summary>More patterns than this in one request is a 400: a request names hosts, it does not ship a list.</summary>
    public const int MaxPatterns = 64;

    /// <summary>
    /// The patterns for a request: null when it asked for no network (or an empty list); the whole ceiling for
    /// <paramref name="network"/> without <paramref name="allow"/>; else <paramref name="allow"/>, each pattern within
    /// the ceiling. Throws <see cref="InvalidRequestException"/> naming <c>network</c> or <c>network.allow[i]</c>.
    /// </summary>
    public static EgressPolicy? Resolve(EgressPolicy ceiling, bool network, IReadOnlyList<string>? allow)
    {
        ArgumentNullException.ThrowIfNull(ceiling);
        if (!network && allow is null) return null;
        if (allow is { Count: 0 }) return null;
        if (ceiling.IsEmpty)
            throw new InvalidRequestException("Network access is disabled on this server (WARDEN_EGRESS_ALLOW is empty).", "network");
        if (allow is null) return ceiling;
        if (allow.Count > MaxPatterns)
            throw new InvalidRequestException($"network.allow has {allow.Count} patterns; at most {MaxPatterns}.", "network.allow");
        var patterns = new List<EgressPattern>(allow.Count);
        for (int i = 0; i < allow.Count; i++)
        {
            try
            {
                patterns.Add(EgressPattern.Parse(allow[i]));
            }
            catch (FormatException e)
            {
                throw new InvalidRequestException($"'{allow[i]}' is not a host pattern: {e.Message}", $"network.allow[{i}]");
            }
        }
        var policy = new EgressPolicy([.. patterns]);
        if (!policy.IsWithin(ceiling, out int offending))
            throw new InvalidRequestException($"'{allow[offending]}' is not within WARDEN_EGRESS_ALLOW.", $"network.allow[{offending}]");
        return policy;
    }
}
