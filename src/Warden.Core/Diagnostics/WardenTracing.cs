using System.Diagnostics;

namespace Warden.Core.Diagnostics;

/// <summary>
/// Warden's spans (<see cref="SourceName"/>): one <c>warden.execute</c> per execution with children for its stages —
/// <c>warden.queue</c> (waiting for a free sandbox), <c>warden.compile</c>, <c>warden.run</c> and <c>warden.collect</c>
/// (reading back the files the program wrote). Core only creates them: an <see cref="ActivitySource"/> costs nothing while
/// nobody listens, and the server's OpenTelemetry set-up (when an OTLP endpoint is configured) is the listener, so Core
/// needs no OpenTelemetry package. They join whatever activity is current, i.e. the HTTP request's, which carries the
/// caller's <c>traceparent</c>.
/// </summary>
public static class WardenTracing
{
    public const string SourceName = "Warden";

    public static readonly ActivitySource Source = new(SourceName, typeof(WardenTracing).Assembly.GetName().Version?.ToString());

    /// <summary>Span names, so that tests and dashboards name the same thing.</summary>
    public static class Spans
    {
        public const string Execute = "warden.execute";
        public const string Queue = "warden.queue";
        public const string Compile = "warden.compile";
        public const string Run = "warden.run";
        public const string Collect = "warden.collect";
    }
}
