using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Warden.Core.Pool;

/// <summary>What /stats shows about the warm pool.</summary>
public sealed record PoolSnapshot(
    bool Enabled,
    int Size,
    long Hits,
    long Misses,
    double HitRate,
    IReadOnlyDictionary<string, long> MissesByReason,
    IReadOnlyDictionary<string, int> Ready,
    IReadOnlyDictionary<string, int> Targets,
    int Starting,
    double RefillP50Ms,
    double RefillP95Ms,
    long Refills,
    long RefillFailures,
    long OnDemand);

/// <summary>
/// The pool's counters, kept for /stats and published as <c>warden.pool.*</c> instruments on the <c>Warden.Pool</c>
/// meter for whatever exporter listens (hits, misses by reason, refill duration, ready sandboxes by language).
/// </summary>
public sealed class PoolMetrics : IDisposable
{
    public const string MeterName = "Warden.Pool";
    private const int Window = 512;

    private readonly Meter _meter;
    private readonly Counter<long> _hits, _misses, _onDemand;
    private readonly Histogram<double> _refill;
    private readonly ConcurrentDictionary<string, long> _missesByReason = new(StringComparer.Ordinal);
    private readonly double[] _refills = new double[Window];
    private long _hitCount, _missCount, _refillCount, _refillFailures, _onDemandCount;
    private Func<IEnumerable<(string Language, int Ready)>> _ready = () => [];

    /// <param name="services">Its IMeterFactory, when there is one, owns the meter (the server's /metrics exports only those).</param>
    public PoolMetrics(IServiceProvider services)
    {
        _meter = services.GetService<IMeterFactory>()?.Create(MeterName) ?? new Meter(MeterName);
        _hits = _meter.CreateCounter<long>("warden.pool.hits", description: "Executions that ran in a warm sandbox.");
        _misses = _meter.CreateCounter<long>("warden.pool.misses", description: "Executions that started cold, by reason.");
        _onDemand = _meter.CreateCounter<long>("warden.pool.on_demand",
            description: "Misses (pool empty) that ran in a stub sandbox started for them instead of cold.");
        _refill = _meter.CreateHistogram<double>("warden.pool.refill.duration", unit: "ms",
            description: "From starting a warm sandbox until its stub runs inside bwrap/runsc.");
        _meter.CreateObservableGauge("warden.pool.ready", () => _ready().Select(r =>
            new Measurement<int>(r.Ready, new KeyValuePair<string, object?>("language", r.Language))), description: "Warm sandboxes ready, by language.");
    }

    public long Hits => Interlocked.Read(ref _hitCount);
    public long Misses => Interlocked.Read(ref _missCount);
    public IReadOnlyDictionary<string, long> MissesByReason => _missesByReason;
    public long Refills => Interlocked.Read(ref _refillCount);
    public long RefillFailures => Interlocked.Read(ref _refillFailures);
    public long OnDemand => Interlocked.Read(ref _onDemandCount);

    internal void ObserveReady(Func<IEnumerable<(string Language, int Ready)>> ready) => _ready = ready;

    internal void Hit(string language)
    {
        Interlocked.Increment(ref _hitCount);
        _hits.Add(1, new KeyValuePair<string, object?>("language", language));
    }

    /// <param name="reason">empty, profile (limits the warm sandboxes were not started for), armed (the cgroup refused the limits), dead.</param>
    internal void Miss(string language, string reason)
    {
        Interlocked.Increment(ref _missCount);
        _missesByReason.AddOrUpdate(reason, 1, (_, n) => n + 1);
        _misses.Add(1, new KeyValuePair<string, object?>("language", language), new KeyValuePair<string, object?>("reason", reason));
    }

    internal void StartedOnDemand(string language)
    {
        Interlocked.Increment(ref _onDemandCount);
        _onDemand.Add(1, new KeyValuePair<string, object?>("language", language));
    }

    internal void Refilled(string language, TimeSpan duration)
    {
        long index = Interlocked.Increment(ref _refillCount) - 1;
        _refills[index % Window] = duration.TotalMilliseconds;
        _refill.Record(duration.TotalMilliseconds, new KeyValuePair<string, object?>("language", language));
    }

    internal void RefillFailed() => Interlocked.Increment(ref _refillFailures);

    /// <summary>Refill duration percentile (0..1) over the last <see cref="Window"/> refills, in ms.</summary>
    public double RefillPercentile(double p)
    {
        long count = Math.Min(Refills, Window);
        if (count == 0) return 0;
        var copy = new double[count];
        Array.Copy(_refills, copy, count);
        Array.Sort(copy);
        return Math.Round(copy[(int)Math.Min(count - 1, Math.Floor(p * count))], 2);
    }

    public void Dispose() => _meter.Dispose();
}
