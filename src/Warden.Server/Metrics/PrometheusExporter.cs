using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Warden.Server.Metrics;

/// <summary>
/// Collects <see cref="System.Diagnostics.Metrics"/> measurements with a <see cref="MeterListener"/> and writes them in
/// the Prometheus text exposition format (0.0.4). Only the meters of this host (created by its IMeterFactory) and only
/// <see cref="MeterNames"/> are listened to. Names follow the OpenTelemetry→Prometheus convention: dots become
/// underscores, the unit is appended (<c>s</c> → <c>_seconds</c>, <c>By</c> → <c>_bytes</c>), counters end in <c>_total</c>.
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    public static readonly IReadOnlySet<string> MeterNames = new HashSet<string>(StringComparer.Ordinal)
    {
        Warden.Core.Execution.ExecutionMetrics.MeterName, Warden.Core.Pool.PoolMetrics.MeterName,
        "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel",
        Warden.Server.Observability.ProcessMetrics.MeterName, RuntimeMeterName,
    };

    /// <summary>.NET's built-in runtime meter (GC, JIT, thread pool, exceptions): one per process, made by no host's factory.</summary>
    public const string RuntimeMeterName = "System.Runtime";

    private static readonly double[] DefaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, Series> _series = new();
    private readonly Lock _scrape = new();

    public PrometheusExporter(IMeterFactory factory)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (!MeterNames.Contains(instrument.Meter.Name)) return;
            if (!ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Meter.Name != RuntimeMeterName) return;
            _series.TryAdd(instrument, new Series(instrument));
            listener.EnableMeasurementEvents(instrument, _series[instrument]);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, state) => ((Series)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, state) => ((Series)state!).Record(v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, state) => ((Series)state!).Record(v, tags));
        _listener.MeasurementsCompleted = (i, _) => _series.TryRemove(i, out Series? _);
        _listener.Start();
    }

    public string Scrape()
    {
        var text = new StringBuilder();
        lock (_scrape)
        {
            foreach (var series in _series.Values) if (series.Observable) series.Reset();
            _listener.RecordObservableInstruments();
            foreach (var group in _series.Values.Where(s => !s.Empty).GroupBy(s => s.Name).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var first = group.First();
                text.Append("# HELP ").Append(first.Name).Append(' ').Append(Escape(first.Description, help: true)).Append('\n');
                text.Append("# TYPE ").Append(first.Name).Append(' ').Append(first.Type).Append('\n');
                foreach (var series in group) series.Write(text);
            }
        }
        return text.ToString();
    }

    public void Dispose() => _listener.Dispose();

    internal static string Escape(string value, bool help = false) =>
        help ? value.Replace("\\", "\\\\").Replace("\n", "\\n") : value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    /// <summary>One instrument's values, per label set.</summary>
    private sealed class Series
    {
        private readonly ConcurrentDictionary<string, Cell> _cells = new(StringComparer.Ordinal);
        private readonly double[]? _buckets;

        public Series(Instrument instrument)
        {
            var (kind, observable) = instrument switch
            {
                Counter<long> or Counter<int> or Counter<double> => ("counter", false),
                ObservableCounter<long> or ObservableCounter<int> or ObservableCounter<double> => ("counter", true),
                Histogram<long> or Histogram<int> or Histogram<double> => ("histogram", false),
                ObservableGauge<long> or ObservableGauge<int> or ObservableGauge<double> => ("gauge", true),
                ObservableUpDownCounter<long> or ObservableUpDownCounter<int> or ObservableUpDownCounter<double> => ("gauge", true),
                _ => ("gauge", false),
            };
            Type = kind;
            Observable = observable;
            Description = instrument.Description ?? instrument.Name;
            var name = instrument.Name.Replace('.', '_').Replace('-', '_').Replace('/', '_');
            name += instrument.Unit switch { "s" => "_seconds", "ms" => "_milliseconds", "By" => "_bytes", _ => "" };
            if (kind == "counter") name += "_total";
            Name = name;
            if (kind == "histogram")
            {
                _buckets = instrument switch
                {
                    Histogram<double> h => h.Advice?.HistogramBucketBoundaries?.ToArray(),
                    Histogram<long> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
                    _ => null,
                } ?? DefaultBuckets;
            }
        }

        public string Name { get; }
        public string Type { get; }
        public string Description { get; }
        public bool Observable { get; }

        public bool Empty => _cells.IsEmpty;

        public void Reset() => _cells.Clear();

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var cell = _cells.GetOrAdd(Labels(tags), _ => new Cell(_buckets?.Length ?? 0));
            lock (cell)
            {
                if (_buckets is not null)
                {
                    int i = 0;
                    while (i < _buckets.Length && value > _buckets[i]) i++;
                    if (i < _buckets.Length) cell.Buckets[i]++;
                    cell.Count++;
                    cell.Value += value;
                }
                else if (Observable) cell.Value = value;
                else cell.Value += value;
            }
        }

        public void Write(StringBuilder text)
        {
            foreach (var (labels, cell) in _cells.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                lock (cell)
                {
                    if (_buckets is null)
                    {
                        text.Append(Name).Append(Braces(labels)).Append(' ').Append(Number(cell.Value)).Append('\n');
                        continue;
                    }
                    long cumulative = 0;
                    for (int i = 0; i < _buckets.Length; i++)
                    {
                        cumulative += cell.Buckets[i];
                        text.Append(Name).Append("_bucket").Append(Braces(labels, ("le", Number(_buckets[i])))).Append(' ').Append(cumulative).Append('\n');
                    }
                    text.Append(Name).Append("_bucket").Append(Braces(labels, ("le", "+Inf"))).Append(' ').Append(cell.Count).Append('\n');
                    text.Append(Name).Append("_sum").Append(Braces(labels)).Append(' ').Append(Number(cell.Value)).Append('\n');
                    text.Append(Name).Append("_count").Append(Braces(labels)).Append(' ').Append(cell.Count).Append('\n');
                }
            }
        }

        private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.Length == 0) return "";
            var pairs = new List<string>(tags.Length);
            foreach (var tag in tags)
                pairs.Add($"{tag.Key.Replace('.', '_').Replace('-', '_')}=\"{Escape(Convert.ToString(tag.Value, CultureInfo.InvariantCulture) ?? "")}\"");
            pairs.Sort(StringComparer.Ordinal);
            return string.Join(',', pairs);
        }

        private static string Braces(string labels, (string Key, string Value)? extra = null)
        {
            var extraText = extra is { } e ? $"{e.Key}=\"{e.Value}\"" : "";
            if (labels.Length == 0 && extraText.Length == 0) return "";
            return "{" + labels + (labels.Length > 0 && extraText.Length > 0 ? "," : "") + extraText + "}";
        }

        private static string Number(double value) =>
            double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf" : value.ToString("R", CultureInfo.InvariantCulture);
    }

    private sealed class Cell(int buckets)
    {
        public readonly long[] Buckets = new long[buckets];
        public double Value;
        public long Count;
    }
}
