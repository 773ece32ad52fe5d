namespace Warden.Core.Pool;

/// <summary>
/// How many warm sandboxes each language should have ready: the configured split until demand is known, then the
/// pool size shared by recent demand (largest remainder), each configured language keeping its floor. Adaptive, the
/// size itself follows demand: it starts at the floor (<see cref="PoolOptions.MinSize"/>), grows by one for every
/// request that finds its language empty, and gives one back for every quiet <see cref="PoolOptions.ShrinkAfterSeconds"/>.
/// Pure apart from the clock, so tests drive it with a fake time provider.
/// </summary>
internal sealed class PoolPolicy
{
    private const int MaxRemembered = 4096;
    private readonly Queue<(DateTimeOffset At, string Language)> _recent = new();
    private readonly PoolOptions _options;
    private readonly IReadOnlyCollection<string> _warmable;
    private readonly TimeProvider _time;
    private readonly Lock _sizeLock = new();
    private readonly int _floor;
    private int _size;
    private DateTimeOffset _lastChange;

    public PoolPolicy(PoolOptions options, IReadOnlyCollection<string> warmable, TimeProvider time)
    {
        _options = options;
        _warmable = warmable;
        _time = time;
        _floor = _options.Adaptive ? Math.Clamp(_options.MinSize, 0, _options.Size) : _options.Size;
        _size = _floor;
        _lastChange = _time.GetUtcNow();
    }

    /// <summary>
    /// Warm sandboxes the pool keeps now: fixed at <see cref="PoolOptions.Size"/> unless adaptive, else between the floor
    /// and that ceiling, one smaller for each quiet <see cref="PoolOptions.ShrinkAfterSeconds"/> since the last change.
    /// </summary>
    public int Size
    {
        get
        {
            lock (_sizeLock)
            {
                var now = _time.GetUtcNow();
                var quiet = TimeSpan.FromSeconds(_options.ShrinkAfterSeconds);
                while (_size > _floor && now - _lastChange >= quiet)
                {
                    _size--;
                    _lastChange += quiet;
                }
                if (_size == _floor) _lastChange = now;
                return _size;
            }
        }
    }

    /// <summary>A request found its language without a ready sandbox: the pool was too small for the demand, grow it by one.</summary>
    public void RecordEmpty()
    {
        if (!_options.Adaptive) return;
        lock (_sizeLock)
        {
            _size = Math.Min(_options.Size, _size + 1);
            _lastChange = _time.GetUtcNow();
        }
    }

    /// <summary>One request for <paramref name="language"/> (hit or miss): demand for the adaptive split.</summary>
    public void RecordDemand(string language)
    {
        if (!_warmable.Contains(language)) return;
        lock (_recent)
        {
            _recent.Enqueue((_time.GetUtcNow(), language));
            if (_recent.Count > MaxRemembered) _recent.Dequeue();
        }
    }

    public IReadOnlyDictionary<string, int> Targets()
    {
        int size = Size;
        var configured = _options.Targets.Where(kv => _warmable.Contains(kv.Key) && kv.Value > 0)
            .ToDictionary(kv => kv.Key, kv => (double)kv.Value, StringComparer.Ordinal);
        var demand = _options.Adaptive ? RecentDemand() : [];
        if (demand.Count == 0)
        {
            // Without demand the configured numbers are the targets, unless they add up to more than the pool holds.
            double sum = configured.Values.Sum();
            return sum <= size
                ? configured.ToDictionary(kv => kv.Key, kv => (int)kv.Value, StringComparer.Ordinal)
                : Split(size, configured);
        }

        var targets = _warmable.ToDictionary(l => l, _ => 0, StringComparer.Ordinal);
        int floors = 0;
        foreach (var language in configured.Keys)
        {
            int floor = Math.Min(_options.MinPerLanguage, size - floors);
            targets[language] = floor;
            floors += floor;
        }
        foreach (var (language, share) in Split(size - floors, demand)) targets[language] += share;
        return targets.Where(kv => kv.Value > 0).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
    }

    private Dictionary<string, double> RecentDemand()
    {
        var since = _time.GetUtcNow() - TimeSpan.FromSeconds(_options.DemandWindowSeconds);
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
