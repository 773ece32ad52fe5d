using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Warden.Core.Configuration;
using Warden.Core.Diagnostics;
using Warden.Server.Hosting;

namespace Warden.Server.Observability;

/// <summary>
/// Logs, traces and process meters in the ecosystem's terms: <c>Warden:Logging:Format</c> (<c>WARDEN_LOG_FORMAT</c>)
/// = <c>json</c> writes one JSON object a line with the trace and span ids; <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> turns on
/// OpenTelemetry traces (ASP.NET Core, Npgsql and Warden's own spans) exported over OTLP, read with the SDK's standard
/// variables (<c>OTEL_EXPORTER_OTLP_PROTOCOL</c>, <c>…_HEADERS</c>, <c>OTEL_SERVICE_NAME</c>, <c>OTEL_BSP_*</c>, …).
/// Without an endpoint no OpenTelemetry SDK is started and spans cost nothing (nobody listens).
/// </summary>
public static class ObservabilitySetup
{
    public const string FormatKey = "Warden:Logging:Format";
    public const string EndpointKey = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>Npgsql's own ActivitySource: listening to it is all its OpenTelemetry package would add.</summary>
    private const string NpgsqlSource = "Npgsql";

    /// <summary>Probes and scrapes arrive every few seconds and say nothing about executions: not traced.</summary>
    private static readonly string[] UntracedPaths = ["/healthz", "/readyz", "/metrics", "/api/v1/health"];

    public static WebApplicationBuilder AddWardenObservability(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        AddLogFormat(builder);
        builder.Services.AddSingleton<ProcessMetrics>();
        AddTracing(builder);
        return builder;
    }

    private static void AddLogFormat(WebApplicationBuilder builder)
    {
        var format = builder.Configuration[FormatKey];
        if (string.IsNullOrEmpty(format) || format.Equals("text", StringComparison.OrdinalIgnoreCase)) return;
        if (!format.Equals("json", StringComparison.OrdinalIgnoreCase))
            throw new InvalidConfigurationException("WARDEN_LOG_FORMAT", $"'{format}' is not a log format; use text or json.");
        // Registered directly rather than through AddConsoleFormatter, whose options binding is reflection-based.
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<ConsoleFormatter, JsonLogFormatter>());
        builder.Logging.AddConsole(o => o.FormatterName = JsonLogFormatter.FormatterName);
    }

    private static void AddTracing(WebApplicationBuilder builder)
    {
        var endpoint = builder.Configuration[EndpointKey];
        if (string.IsNullOrWhiteSpace(endpoint)) return;
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new InvalidConfigurationException(EndpointKey, $"'{endpoint}' is not an http:// or https:// URL.");
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName: builder.Configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } name ? name : "warden", serviceVersion: WardenVersion.Current, autoGenerateServiceInstanceId: true))
            .WithTracing(tracing => tracing
                .AddSource(WardenTracing.SourceName, NpgsqlSource)
                .AddAspNetCoreInstrumentation(o => o.Filter = Traced)
                // Reads the endpoint, protocol and headers from the standard OTEL_EXPORTER_OTLP_* settings.
                .AddOtlpExporter());
    }

    private static bool Traced(HttpContext context) =>
        !UntracedPaths.Any(p => context.Request.Path.Equals(p, StringComparison.OrdinalIgnoreCase));
}
