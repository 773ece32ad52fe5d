namespace Warden.Benchmarks;

/// <summary>Measurements of one variant (milliseconds, or executions/s for throughput), in the order they were taken.</summary>
internal sealed class Samples
{
    private readonly List<double> _values = [];

    public int Count => _values.Count;

    public IReadOnlyList<double> Values => _values;

    public void Add(double milliseconds) => _values.Add(milliseconds);

    public double Median => Percentile(0.50);

    public double P95 => Percentile(0.95);

    public double P10 => Percentile(0.10);

    /// <summary>Linear interpolation between closest ranks; with 60 samples p95 lies between the 57th and 58th value.</summary>
    public double Percentile(double p)
    {
        if (_values.Count == 0) return double.NaN;
        var sorted = _values.Order().ToArray();
        double rank = p * (sorted.Length - 1);
        int low = (int)Math.Floor(rank), high = (int)Math.Ceiling(rank);
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
    }

    /// <summary>
    /// Median of per-round differences against <paramref name="baseline"/>. Both were measured in the same round, a
    /// few milliseconds apart, so slow drift of the machine (other tenants, thermal) cancels out of each pair.
    /// </summary>
    public double PairedMedianDelta(Samples baseline) => Deltas(baseline).Median;

    /// <summary>
    /// A 95 % bootstrap interval for <see cref="PairedMedianDelta"/>: how far the result could move on this machine
    /// from noise alone. Two rows whose interval contains 0 are not distinguishable in this run.
    /// </summary>
    public (double Low, double High) PairedDeltaInterval(Samples baseline)
    {
        var deltas = Deltas(baseline)._values;
        if (deltas.Count == 0) return (double.NaN, double.NaN);
        var random = new Random(1);
        var medians = new Samples();
        var resample = new Samples();
        for (int b = 0; b < 2000; b++)
        {
            resample._values.Clear();
            for (int i = 0; i < deltas.Count; i++) resample._values.Add(deltas[random.Next(deltas.Count)]);
            medians.Add(resample.Median);
        }
        return (medians.Percentile(0.025), medians.Percentile(0.975));
    }

    private Samples Deltas(Samples baseline)
    {
        var deltas = new Samples();
        for (int i = 0; i < Math.Min(Count, baseline.Count); i++) deltas.Add(_values[i] - baseline._values[i]);
        return deltas;
    }
}
