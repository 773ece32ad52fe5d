using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using Warden.Core;
using Warden.Core.Execution;
using Warden.Core.Languages;
using Warden.Core.Limits;
using Warden.Server.Hosting;

namespace Warden.Server.NativeApi;

/// <summary>The native REST API under <c>/api/v1</c>: wire format ↔ Core, nothing more.</summary>
public static class NativeApi
{
    public static IEndpointRouteBuilder MapNativeApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").WithTags("native");
        api.MapPost("/execute", ExecuteAsync).WithName("execute").WithSummary("Run code once in a fresh sandbox")
            .Accepts<ExecuteRequest>("application/json").Produces<ExecuteResponse>()
            .ProducesProblem(400).ProducesProblem(413).ProducesProblem(415).ProducesProblem(429).ProducesProblem(503)
            .WithMetadata(RateLimiting.ExecutionEndpoint.Instance);
        api.MapGet("/runtimes", GetRuntimes).WithName("list_runtimes").WithSummary("Installed languages and versions");
        api.MapGet("/health", GetHealth).WithName("get_health").WithSummary("Service and backend health").AllowAnonymous();
        api.MapGet("/config", GetConfig).WithName("get_config").WithSummary("Effective defaults, ceilings and languages (no secrets)");
        api.MapGet("/stats", GetStats).WithName("get_stats").WithSummary("Execution counters and latency percentiles");
        return app;
    }

    private static async Task<Ok<ExecuteResponse>> ExecuteAsync(HttpContext context, ExecutionRunner runner, CancellationToken cancellationToken)
    {
        var body = await RequestBody.ReadJsonAsync<ExecuteRequest>(context.Request, NativeJson.Options, cancellationToken);
        var result = await runner.RunAsync(context, body.ToCore(), "execute", cancellationToken);
        return TypedResults.Ok(ExecuteResponse.From(result, collected: body.CollectFiles == true));
    }

    private static Ok<List<RuntimeDto>> GetRuntimes(LanguageCatalog catalog) =>
        TypedResults.Ok(catalog.Installed.Select(l => new RuntimeDto(l.Name, catalog.GetVersion(l), l.Definition.Aliases, l.Definition.IsCompiled)).ToList());

    /// <summary>ok, degraded (no cgroup limits, or sandbox slots quarantined), or error (503): no program could run in a real sandbox.</summary>
    /// <remarks>Answers from the last sandbox check (its age included) and never waits for a sandbox: a stale check is redone in the background.</remarks>
    private static Results<Ok<HealthDto>, JsonHttpResult<HealthDto>> GetHealth(ExecutionEngine engine, BackendLifetime backend,
        SandboxCheck check, ShutdownGrace shutdown)
    {
        var sandbox = SandboxCheckDto.Cached(backend, check, shutdown);
        var backendStatus = engine.Backend.Status();
        bool degraded = backendStatus.Degraded;
        var status = sandbox is { Ok: false } ? "error" : degraded ? "degraded" : "ok";
        var health = new HealthDto(status, engine.Backend.Name, degraded, backendStatus.ToFacts(), WardenVersion.Current,
            (long)(DateTimeOffset.UtcNow - WardenVersion.StartedAt).TotalSeconds, engine.Stats.Active, engine.Stats.Queued, sandbox);
        return status == "error" ? TypedResults.Json(health, NativeJson.Options.Info<HealthDto>(), statusCode: 503) : TypedResults.Ok(health);
    }

    private static Ok<ConfigDto> GetConfig(IOptions<LimitsOptions> limits, IOptions<WardenOptions> options, LanguageCatalog catalog, ExecutionEngine engine,
        Warden.Core.Egress.EgressProxy egress)
    {
        var l = limits.Value;
        // allow_network keeps its meaning for old clients: a request may ask for network (the egress ceiling is not empty).
        var ceiling = egress.Ceiling.Patterns.IsDefault ? [] : egress.Ceiling.Patterns.Select(p => p.Text).ToList();
        return TypedResults.Ok(new ConfigDto(
            engine.Backend.Name, engine.Backend.Status().ToFacts(), LimitsDto.From(l.Default), LimitsDto.From(l.Ceiling), LimitsDto.From(l.Compile),
            l.Cpus, l.TmpMb, l.WorkspaceMb, l.MaxFileSizeMb, l.MaxOpenFiles, ceiling.Count > 0, l.MaxCodeBytes, l.MaxStdinBytes,
            options.Value.MaxConcurrent, options.Value.MaxQueue, catalog.Installed.Select(x => x.Name).ToList(), ceiling));
    }

    private static Ok<StatsDto> GetStats(ExecutionEngine engine)
    {
        var s = engine.Stats;
        return TypedResults.Ok(new StatsDto(s.Total, s.ByStatus.ToDictionary(kv => kv.Key.ToWireName(), kv => kv.Value),
            s.ByLanguage.ToDictionary(), new PercentilesDto(s.Percentile(0.5), s.Percentile(0.95)), s.Active, s.Queued, s.Rejected,
            PoolStatsDto.From(engine.Pool.Snapshot())));
    }
}

public sealed record RuntimeDto(string Language, string Version, IReadOnlyList<string> Aliases, bool Compiled);

/// <param name="SandboxCheck">The last sandbox check (a tiny program started in a real sandbox; redone in the background
/// once older than Warden:SandboxCheckSeconds); null until the first check finished.</param>
public sealed record HealthDto(string Status, string Backend, bool Degraded, IReadOnlyDictionary<string, string> BackendInfo,
    string Version, long UptimeSeconds, int Active, int Queued, SandboxCheckDto? SandboxCheck);

public sealed record LimitsDto(double Timeout, double CpuTime, int MemoryMb, int MaxProcesses, long MaxOutputBytes)
{
    public static LimitsDto From(LimitValues v) => new(v.TimeoutSeconds, v.CpuTimeSeconds, v.MemoryMb, v.MaxProcesses, v.MaxOutputBytes);
}

public sealed record ConfigDto(string Backend, IReadOnlyDictionary<string, string> BackendInfo, LimitsDto Defaults, LimitsDto Ceilings,
    LimitsDto Compile, double Cpus, int TmpMb, int WorkspaceMb, int MaxFileSizeMb, int MaxOpenFiles, bool AllowNetwork, long MaxCodeBytes,
    long MaxStdinBytes, int MaxConcurrent, int MaxQueue, IReadOnlyList<string> Languages, IReadOnlyList<string> EgressAllow);

public sealed record PercentilesDto(double P50, double P95);

public sealed record StatsDto(long Total, Dictionary<string, long> ByStatus, Dictionary<string, long> ByLanguage, PercentilesDto DurationMs,
    int Active, int Queued, long Rejected, PoolStatsDto Pool);

/// <summary>The warm pool: hit rate (warm runs / runs of warmable languages), refill latency, ready sandboxes by language.</summary>
public sealed record PoolStatsDto(bool Enabled, int Size, long Hits, long Misses, double HitRate, IReadOnlyDictionary<string, long> MissesByReason,
    IReadOnlyDictionary<string, int> Ready, IReadOnlyDictionary<string, int> Targets, int Starting, PercentilesDto RefillMs, long Refills,
    long RefillFailures, long OnDemand)
{
    public static PoolStatsDto From(Warden.Core.Pool.PoolSnapshot p) => new(p.Enabled, p.Size, p.Hits, p.Misses, p.HitRate, p.MissesByReason,
        p.Ready, p.Targets, p.Starting, new PercentilesDto(p.RefillP50Ms, p.RefillP95Ms), p.Refills, p.RefillFailures, p.OnDemand);
}
