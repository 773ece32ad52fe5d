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
    public double PairedMedianDelta(Samples baseline)
    {
        var deltas = new Samples();
        for (int i = 0; i < Math.Min(Count, baseline.Count); i++) deltas.Add(_values[i] - baseline._values[i]);
        return deltas.Median;
    }
}
