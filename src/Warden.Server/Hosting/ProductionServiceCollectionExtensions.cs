using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Warden.Core.Hosting;
using Warden.Server.Auth;
using Warden.Server.Data;
using Warden.Server.History;
using Warden.Server.Metrics;
using Warden.Server.NativeApi;
using Warden.Server.RateLimiting;

namespace Warden.Server.Hosting;

/// <summary>The service around the engine: keys, rate limits, audit log and history, metrics, graceful shutdown.</summary>
public static class ProductionServiceCollectionExtensions
{
    /// <param name="sharedQuotas">Replicas share rate limits in the database (cluster mode) instead of each keeping its own.</param>
    public static IServiceCollection AddWardenProduction(this IServiceCollection services, IConfiguration configuration, WardenDatabase database,
        bool sharedQuotas = false)
    {
        services.AddOptions<HistoryOptions>().Bind(configuration.GetSection(HistoryOptions.Section)).ValidateWith<HistoryOptions, HistoryOptionsAttributes>().ValidateOnStart();
        services.AddOptions<AuditOptions>().Bind(configuration.GetSection(AuditOptions.Section)).ValidateWith<AuditOptions, AuditOptionsAttributes>().ValidateOnStart();
        services.AddOptions<RateLimitOptions>().Bind(configuration.GetSection(RateLimitOptions.Section)).ValidateWith<RateLimitOptions, RateLimitOptionsAttributes>().ValidateOnStart();
        services.AddOptions<ShutdownOptions>().Bind(configuration.GetSection("Warden")).ValidateWith<ShutdownOptions, ShutdownOptionsAttributes>().ValidateOnStart();
        services.AddSingleton(new AuthOptions
        {
            ApiKey = configuration["Warden:ApiKey"], MetricsAnonymous = configuration.GetValue<bool>("Warden:Metrics:Anonymous"),
        });
        services.AddSingleton(database);
        services.AddSingleton<ApiKeyStore>();
        services.TryAddSingleton<ISigningKeys, ProcessSigningKeys>();
        services.AddSingleton<HistoryStore>();
        services.AddSingleton<ExecutionRecorder>();
        services.AddSingleton<ShutdownGrace>();
        services.AddSingleton<BackendLifetime>();
        services.AddSingleton<PrometheusExporter>();
        services.AddSingleton<ExecutionRunner>();
        // Order matters at start-up (backend first) and at shutdown (the recorder drains after the server stopped).
        services.AddHostedService(sp => sp.GetRequiredService<BackendLifetime>());
        services.AddHostedService(sp => sp.GetRequiredService<ShutdownGrace>());
        services.AddHostedService(sp => sp.GetRequiredService<ExecutionRecorder>());
        // The proxy's records go to the audit log; registered after the recorder so it drains first at shutdown.
        services.AddSingleton<EgressAuditRecorder>();
        services.Replace(ServiceDescriptor.Singleton<Warden.Core.Egress.IEgressAuditSink>(sp => sp.GetRequiredService<EgressAuditRecorder>()));
        services.AddHostedService(sp => sp.GetRequiredService<EgressAuditRecorder>());
        services.AddWardenRateLimits(shared: sharedQuotas);
        return services;
    }
}
