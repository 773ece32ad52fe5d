namespace Warden.Core.Pool;

/// <summary>
/// How many warm sandboxes each language should have ready: the configured split until demand is known, then the
/// pool size shared by recent demand (largest remainder), each configured language keeping its floor. Pure apart
/// from the clock, so tests drive it with a fake time provider.
/// </summary>
internal sealed class PoolPolicy(PoolOptions options, IReadOnlyCollection<string> warmable, TimeProvider time)
{
    private const int MaxRemembered = 4096;
    private readonly Queue<(DateTimeOffset At, string Language)> _recent = new();

    /// <summary>One request for <paramref name="language"/> (hit or miss): demand for the adaptive split.</summary>
    public void RecordDemand(string language)
    {
        if (!warmable.Contains(language)) return;
        lock (_recent)
        {
            _recent.Enqueue((time.GetUtcNow(), language));
            if (_recent.Count > MaxRemembered) _recent.Dequeue();
        }
    }

    public IReadOnlyDictionary<string, int> Targets()
    {
        var configured = options.Targets.Where(kv => warmable.Contains(kv.Key) && kv.Value > 0)
            .ToDictionary(kv => kv.Key, kv => (double)kv.Value, StringComparer.Ordinal);
        var demand = options.Adaptive ? RecentDemand() : [];
        if (demand.Count == 0)
        {
            // Without demand the configured numbers are the targets, unless they add up to more than the pool holds.
            double sum = configured.Values.Sum();
            return sum <= options.Size
                ? configured.ToDictionary(kv => kv.Key, kv => (int)kv.Value, StringComparer.Ordinal)
                : Split(options.Size, configured);
        }

        var targets = warmable.ToDictionary(l => l, _ => 0, StringComparer.Ordinal);
        int floors = 0;
        foreach (var language in configured.Keys)
        {
            int floor = Math.Min(options.MinPerLanguage, options.Size - floors);
            targets[language] = floor;
            floors += floor;
        }
        foreach (var (language, share) in Split(options.Size - floors, demand)) targets[language] += share;
        return targets.Where(kv => kv.Value > 0).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
    }

    private Dictionary<string, double> RecentDemand()
    {
        var since = time.GetUtcNow() - TimeSpan.FromSeconds(options.DemandWindowSeconds);
        lock (_recent)
        {
            while (_recent.Count > 0 && _recent.Peek().At < since) _recent.Dequeue();
            return _recent.GroupBy(r => r.Language, StringComparer.Ordinal).ToDictionary(g => g.Key, g => (double)g.Count(), StringComparer.Ordinal);
        }
    }

    /// <summary>Shares <paramref name="total"/> by weight: floors first, then the largest remainders (ties by name).</summary>
    internal static Dictionary<string, int> Split(int total, IReadOnlyDictionary<string, double> weights)
    {
        double sum = weights.Values.Sum();
        if (total <= 0 || sum <= 0) return weights.Keys.ToDictionary(k => k, _ => 0, StringComparer.Ordinal);
        var exact = weights.ToDictionary(kv => kv.Key, kv => kv.Value * total / sum, StringComparer.Ordinal);
        var shares = exact.ToDictionary(kv => kv.Key, kv => (int)Math.Floor(kv.Value), StringComparer.Ordinal);
        int left = total - shares.Values.Sum();
        foreach (var language in exact.OrderByDescending(kv => kv.Value - Math.Floor(kv.Value)).ThenBy(kv => kv.Key, StringComparer.Ordinal)
                     .Select(kv => kv.Key).Take(left))
            shares[language]++;
        return shares;
    }
}
