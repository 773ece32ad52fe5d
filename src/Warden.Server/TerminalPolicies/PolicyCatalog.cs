using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Warden.Core.Languages;
using Warden.Core.Limits;
using Warden.Core.Terminals;

namespace Warden.Server.TerminalPolicies;

/// <summary>
/// Policies as routing needs them: looked up by id (cached for <see cref="CacheLifetime"/>, so a terminal request costs
/// no database round trip; another replica's change is seen within that time) and resolved to the limits a sandbox gets
/// with the server's ceilings of now.
/// </summary>
internal sealed class PolicyCatalog(PolicyStore store, LimitPolicy limits, IOptions<TerminalOptions> terminal, LanguageCatalog languages, TimeProvider time,
    Core.Egress.EgressProxy egress)
{
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<string, (TerminalPolicy? Policy, DateTimeOffset Expires)> _cache = new(StringComparer.Ordinal);

    public PolicyStore Store => store;

    /// <summary>The names an <c>image</c> may take: the server's installed language profiles.</summary>
    public IReadOnlyCollection<string> Profiles => languages.Installed.Select(l => l.Name).ToList();

    public JsonObject Validate(JsonObject data) => PolicyData.Validate(data, limits, terminal.Value, Profiles, egress.Ceiling);

    /// <summary>The policy's effective terminal settings, or null when there is no such policy.</summary>
    public async ValueTask<TerminalPolicy?> FindAsync(string id, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (_cache.TryGetValue(id, out var cached) && cached.Expires > now) return cached.Policy;
        var row = await store.GetAsync(id, cancellationToken).ConfigureAwait(false);
        TerminalPolicy? policy = null;
        if (row is not null && JsonNode.Parse(row.Data) is JsonObject data)
            policy = limits.ResolveTerminalPolicy(row.Id, terminal.Value, PolicyData.Parse(data));
        _cache[id] = (policy, now + CacheLifetime);
        return policy;
    }

    /// <summary>This replica's own writes are seen at once.</summary>
    public void Forget(string id) => _cache.TryRemove(id, out _);
}
