using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core;
using Warden.Core.Configuration;
using Warden.Core.Hosting;
using Warden.Core.Limits;
using Warden.Core.State;
using Warden.Server.Auth;
using Warden.Server.Cluster;
using Warden.Server.Data;
using Warden.Server.Hosting;
using Warden.Server.JupyterApi;
using Warden.Server.McpApi;
using Warden.Server.Metrics;
using Warden.Server.NativeApi;
using Warden.Server.Observability;
using Warden.Server.OpenTerminalApi;
using Warden.Server.Streaming;
using Warden.Server.TerminalPolicies;

namespace Warden.Server;

/// <summary>What <c>warden serve</c> (or a test) passes to start the server.</summary>
public sealed record ServerStartOptions
{
    public string? ConfigFile { get; init; }
    public IReadOnlyDictionary<string, string?> Overrides { get; init; } = new Dictionary<string, string?>();
    /// <summary>Environment variables to read WARDEN_* settings from; null = the process environment.</summary>
    public IDictionary<string, string?>? Environment { get; init; }
}

/// <summary>Composition of the HTTP host. Reads like a table of contents; each surface maps itself.</summary>
public static class WardenServer
{
    public const string DefaultUrls = "http://127.0.0.1:8090";

    public static WebApplication Build(ServerStartOptions start)
    {
        ArgumentNullException.ThrowIfNull(start);
        // No reload-on-change: it watches the content root (the working directory) recursively with one inotify watch per
        // subdirectory, and from a checkout or /tmp that walk alone took 1.9 to 12 s of the start. Settings change with a restart.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = ["--hostBuilder:reloadConfigOnChange=false"] });
        builder.Configuration.AddWardenSources(start.ConfigFile, start.Overrides, start.Environment);
        // One server per state directory, decided before anything in it is touched (database, audit log, users' homes);
        // held until the host is disposed.
        var state = StateDirectoryLock.Acquire(builder.Configuration["Warden:StateDirectory"] ?? WardenOptions.DefaultStateDirectory());
        try
        {
            var app = Build(builder, state);
            // Resolved once so that the container owns the lease and disposes it with itself.
            app.Services.GetRequiredService<StateDirectoryLease>();
            var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(StateDirectory));
            foreach (var change in state.ModeChanges) StateDirectory.Report(logger, change);
            return app;
        }
        catch
        {
            state.Dispose();
            throw;
        }
    }

    private static WebApplication Build(WebApplicationBuilder builder, StateDirectoryLease state)
    {
        // A start-up failure (bad setting, host that cannot sandbox) is reported once, as one clear line, by `warden serve`;
        // the host's own error log of the same exception would bury it under a stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        // ASP.NET Core's own per-request information (six lines a request: routing, endpoint, result, timing) costs CPU on
        // every execution and says nothing the execution log does not; warnings stay. A Logging:LogLevel setting wins.
        if (builder.Configuration["Logging:LogLevel:Microsoft.AspNetCore"] is null)
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        var urls = builder.Configuration["Warden:Urls"] ?? DefaultUrls;
        var apiKey = builder.Configuration["Warden:ApiKey"];
        var database = WardenDatabase.Open(builder.Configuration["Warden:Database:ConnectionString"], state.Path);
        // One of several replicas sharing PostgreSQL, or a server on its own (null): decided here, once, naming any bad setting.
        var replica = ClusterSetup.Resolve(builder.Configuration, database.Kind, urls);
        // Keys in the store protect the server as well as the bootstrap key does.
        var storedKeys = !BindGuard.AllLoopback(urls) && string.IsNullOrEmpty(apiKey)
            && new ApiKeyStore(database, TimeProvider.System).KeysExistAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();
        BindGuard.Check(urls, storedKeys ? "stored" : apiKey, builder.Configuration.GetValue<bool>("Warden:AllowUnauthenticatedRemote"));
        builder.WebHost.UseUrls(urls.Split(';', ',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            var limits = context.Configuration.GetSection(LimitsOptions.Section).Get<LimitsOptions>() ?? new LimitsOptions();
            // JSON escaping can grow code up to 6x (\uXXXX); beyond that the request cannot be valid anyway.
            kestrel.Limits.MaxRequestBodySize = 6 * (limits.MaxCodeBytes + limits.MaxStdinBytes) + 65536;
            kestrel.AddServerHeader = false;
        });

        var grace = builder.Configuration.GetValue<double?>("Warden:ShutdownGraceSeconds") ?? new ShutdownOptions().ShutdownGraceSeconds;
        // Kestrel waits for running requests this long; the grace service kills executions a little earlier so they can answer.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(grace + 15));

        builder.AddWardenObservability();
        builder.Services.AddSingleton(_ => state);
        builder.Services.AddWardenCore(builder.Configuration);
        builder.Services.AddSurfaceRequirements(builder.Configuration);
        builder.Services.AddWardenProduction(builder.Configuration, database, sharedQuotas: replica is not null);
        builder.Services.AddWardenCluster(builder.Configuration, replica);
        builder.Services.AddHostedService<Warden.Server.LocalRun.LocalRunListener>();
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = StatusProblems.Describe);
        builder.Services.AddSingleton<Microsoft.AspNetCore.Http.IProblemDetailsWriter, ProblemJsonWriter>();
        builder.Services.AddExceptionHandler<WardenExceptionHandler>();
        // A parameter the framework cannot bind becomes an exception the handler words as a problem naming the parameter,
        // instead of a bare 400 that says nothing.
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.ConfigureHttpJsonOptions(o => NativeJson.Configure(o.SerializerOptions));
        builder.Services.AddOpenApi("v1", o =>
        {
            o.OpenApiVersion = Microsoft.OpenApi.OpenApiSpecVersion.OpenApi3_0;
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info.Title = "Warden";
                document.Info.Description = "Secure code execution: native API.";
                return Task.CompletedTask;
            });
        });
        builder.Services.AddJupyterApi();
        builder.Services.AddOpenTerminalApi(builder.Configuration);
        builder.Services.AddMcpApi(builder.Configuration, clustered: replica is not null);

        var app = builder.Build();
        // Before routing: /terminal/p/{policy}/… is matched as /terminal/… with the policy attached (Open WebUI's Terminals routes).
        app.UseTerminalPolicyPrefix();
        app.UseRouting();
        // Listen from the start: measurements made before the first scrape count too.
        app.Services.GetRequiredService<PrometheusExporter>();
        app.Services.GetRequiredService<ProcessMetrics>();
        if (replica is not null) app.UseClusterReplicaHeader(replica);
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseMiddleware<AuthenticationMiddleware>();
        if (replica is not null) app.UseClusterRouting();
        app.UseRateLimiter();
        app.MapOpenApi("/openapi.json");
        app.MapOperationsApi();
        app.MapNativeApi();
        app.MapStreamingApi();
        app.MapExecutionsApi();
        app.MapAdminApi();
        app.MapSessionsApi();
        app.MapJupyterApi();
        app.MapOpenTerminalApi();
        app.MapMcpApi();
        if (replica is not null) app.MapClusterApi();
        return app;
    }
}
