using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Warden.Core.Execution;
using Warden.Server.Auth;
using Warden.Server.Data;
using Warden.Server.Hosting;
using Warden.Server.NativeApi;

namespace Warden.Server.Metrics;

/// <summary>
/// Operations endpoints: <c>/metrics</c> (Prometheus text; admin scope unless Warden:Metrics:Anonymous), <c>/healthz</c>
/// (liveness: the process answers) and <c>/readyz</c> (readiness: backend started, a program runs in a real sandbox
/// (<see cref="SandboxCheck"/>, reused for a few seconds), database reachable, not shutting down).
/// </summary>
public static class MetricsApi
{
    public static IEndpointRouteBuilder MapOperationsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/metrics", GetMetrics).WithName("get_metrics").WithTags("operations").WithSummary("Prometheus metrics")
            .WithMetadata(RequiredScope.Admin);
        app.MapGet("/healthz", () => TypedResults.Text("ok\n")).WithName("liveness").WithTags("operations").WithSummary("Liveness").AllowAnonymous();
        app.MapGet("/readyz", GetReadinessAsync).WithName("readiness").WithTags("operations").WithSummary("Readiness").AllowAnonymous();
        return app;
    }

    private static ContentHttpResult GetMetrics(PrometheusExporter exporter) =>
        TypedResults.Text(exporter.Scrape(), "text/plain; version=0.0.4; charset=utf-8");

    private static async Task<Results<Ok<ReadinessDto>, JsonHttpResult<ReadinessDto>>> GetReadinessAsync(BackendLifetime backend,
        SandboxCheck check, WardenDatabase database, ShutdownGrace shutdown, CancellationToken cancellationToken)
    {
        var sandbox = await SandboxCheckDto.CurrentAsync(backend, check, shutdown, cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        bool db = await database.PingAsync(timeout.Token);
        bool ready = backend.Started && sandbox?.Ok != false && db && !shutdown.Stopping;
        var dto = new ReadinessDto(ready ? "ready" : "not_ready", backend.Started, db, shutdown.Stopping, sandbox);
        return ready ? TypedResults.Ok(dto) : TypedResults.Json(dto, NativeJson.Options.Info<ReadinessDto>(), statusCode: 503);
    }
}

/// <param name="SandboxCheck">The last sandbox check (null before the backend started or when none could run yet).</param>
public sealed record ReadinessDto(string Status, bool BackendStarted, bool DatabaseReachable, bool ShuttingDown, SandboxCheckDto? SandboxCheck);
