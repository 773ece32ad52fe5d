using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Execution;

namespace Warden.Core.Egress;

/// <summary>
/// The egress proxy's instruments on Warden's meter. Labelled by the matched <b>ceiling</b> pattern, never by host: a
/// sandbox choosing names must not be able to grow the label set.
/// </summary>
public sealed class EgressMetrics : IDisposable
{
    private static readonly double[] ConnectBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _connections;
    private readonly Counter<long> _bytes;
    private readonly UpDownCounter<long> _active;
    private readonly Histogram<double> _connect;

    public EgressMetrics(IServiceProvider services)
        : this(services.GetService<IMeterFactory>()?.Create(ExecutionMetrics.MeterName), owns: false) { }

    internal EgressMetrics(Meter? meter, bool owns)
    {
        _ownsMeter = owns || meter is null;
        _meter = meter ?? new Meter(ExecutionMetrics.MeterName);
        _connections = _meter.CreateCounter<long>("warden.egress.connections", description: "Egress proxy connections by decision, reason and matched ceiling pattern.");
        _bytes = _meter.CreateCounter<long>("warden.egress", "By", "Bytes relayed by the egress proxy, by direction (sent: to origins) and pattern.");
        _active = _meter.CreateUpDownCounter<long>("warden.egress.active_connections", description: "Egress tunnels open now.");
        _connect = _meter.CreateHistogram("warden.egress.connect", "s", "Time to resolve and connect to an origin.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = ConnectBuckets });
    }

    internal void Connection(bool allowed, string? reason, string? pattern) =>
        _connections.Add(1, new TagList { { "decision", allowed ? "allowed" : "refused" }, { "reason", reason ?? "" }, { "pattern", pattern ?? "" } });

    internal void Bytes(long sent, long received, string pattern)
    {
        if (sent > 0) _bytes.Add(sent, new TagList { { "direction", "sent" }, { "pattern", pattern } });
        if (received > 0) _bytes.Add(received, new TagList { { "direction", "received" }, { "pattern", pattern } });
    }

    internal void Opened() => _active.Add(1);
    internal void Closed() => _active.Add(-1);
    internal void Connected(TimeSpan elapsed, string pattern) => _connect.Record(elapsed.TotalSeconds, new TagList { { "pattern", pattern } });

    public void Dispose()
    {
        if (_ownsMeter) _meter.Dispose();
    }
}
