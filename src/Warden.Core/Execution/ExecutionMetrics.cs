using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Warden.Core.Execution;

/// <summary>
/// Warden's instruments (meter <see cref="MeterName"/>). Anything can listen (the server's /metrics does, through a
/// MeterListener). Created from the host's <see cref="IMeterFactory"/> when there is one, so that several hosts in one
/// process (tests) keep their measurements apart.
/// </summary>
public sealed class ExecutionMetrics : IDisposable
{
    public const string MeterName = "Warden";
    private static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
    private readonly Meter _meter;
    private readonly Counter<long> _executions;
    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _queueWait;
    private readonly Counter<long> _rejections;
    private readonly Counter<long> _outputBytes;

    public ExecutionMetrics(IServiceProvider services)
    {
        _meter = services.GetService<IMeterFactory>()?.Create(MeterName) ?? new Meter(MeterName);
        _executions = _meter.CreateCounter<long>("warden.executions", description: "Finished executions by status, language and backend.");
        _duration = _meter.CreateHistogram("warden.execution.duration", "s", "Execution time from admission to result (compile + run).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _queueWait = _meter.CreateHistogram("warden.execution.queue_wait", "s", "Time an execution waited for a free sandbox.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _rejections = _meter.CreateCounter<long>("warden.rejections", description: "Requests refused before running: capacity (503), rate_limit and concurrency (429).");
        _outputBytes = _meter.CreateCounter<long>("warden.output", "By", "Bytes of stdout and stderr returned.");
    }

    /// <summary>The meter, for gauges that observe other components (queue depth, pool slots, sessions).</summary>
    public Meter Meter => _meter;

    internal void Finished(ExecutionResult result)
    {
        var tags = new TagList { { "status", result.Status.ToWireName() }, { "language", result.Language }, { "backend", result.Backend } };
        _executions.Add(1, tags);
        _duration.Record(result.TotalMs / 1000.0, tags);
        _queueWait.Record(result.QueuedMs / 1000.0, new TagList { { "backend", result.Backend } });
        _outputBytes.Add(result.OutputBytes, new TagList { { "language", result.Language } });
    }

    /// <summary>Counts a refusal: <c>capacity</c> (Core), or <c>rate_limit</c> / <c>concurrency</c> (the HTTP layer).</summary>
    public void Rejected(string reason) => _rejections.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void Dispose() => _meter.Dispose();
}
