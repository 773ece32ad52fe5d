using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Warden.Core.Hosting;
using Warden.Core.Sessions;
using Warden.Server.Hosting;

namespace Warden.Server.Cluster;

/// <summary>Cluster mode's services and middleware; none of it is registered for a server on its own.</summary>
public static class ClusterServiceCollectionExtensions
{
    public static IServiceCollection AddWardenCluster(this IServiceCollection services, IConfiguration configuration, ReplicaIdentity? replica)
    {
        // Validated even when off: an invalid setting stops start-up whether or not it is in use yet.
        services.AddOptions<ClusterOptions>().Bind(configuration.GetSection(ClusterOptions.Section)).ValidateWith<ClusterOptions, ClusterOptionsAttributes>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ClusterOptions>, ClusterOptionsValidator>());
        if (replica is null) return services;
        services.AddSingleton(replica);
        services.AddSingleton<ClusterDirectory>();
        services.AddSingleton<SharedQuotaStore>();
        services.AddSingleton<SharedSigningKeys>();
        services.Replace(ServiceDescriptor.Singleton<ISigningKeys>(sp => sp.GetRequiredService<SharedSigningKeys>()));
        services.Replace(ServiceDescriptor.Singleton<ISessionRegistry, ClusterSessionRegistry>());
        services.AddSingleton<ClusterTransport>();
        services.AddSingleton<ClusterMembership>();
        services.AddSingleton<ClusterForwarder>();
        services.AddSingleton<WebSocketRelay>();
        services.AddSingleton<ClusterListMerger>();
        services.AddSingleton<Warden.Core.Workspaces.IHomeFence, ClusterHomeFence>();
        services.AddHostedService(sp => sp.GetRequiredService<ClusterMembership>());
        return services;
    }

    /// <summary>First in the pipeline: every response names the replica that produced it (forwarded ones keep their owner's name).</summary>
    public static WebApplication UseClusterReplicaHeader(this WebApplication app, ReplicaIdentity replica)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.Use((context, next) =>
        {
            context.Response.OnStarting(() =>
            {
                if (!context.Response.Headers.ContainsKey(ClusterTransport.ReplicaHeader)) context.Response.Headers[ClusterTransport.ReplicaHeader] = replica.ReplicaId;
                return Task.CompletedTask;
            });
            return next(context);
        });
        return app;
    }

    /// <summary>After authentication, before the rate limits: route to owners, then count shared quotas (only where the request is served).</summary>
    public static WebApplication UseClusterRouting(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        // The router must see WebSocket upgrades to relay them (the WebSocket middleware skips requests it already handled).
        app.UseWebSockets();
        app.UseMiddleware<ClusterRouter>();
        app.UseMiddleware<SharedQuotaMiddleware>();
        return app;
    }

    /// <summary><c>GET /api/v1/cluster</c> (admin): every replica the directory knows, live or not, and this one's identity.</summary>
    public static WebApplication MapClusterApi(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/api/v1/cluster", (ClusterMembership membership) => TypedResults.Ok(new ClusterDto(membership.Self.ReplicaId,
                membership.Self.AdvertiseUrl.ToString(), membership.DeadAfter.TotalSeconds,
                membership.Replicas.Select(r => new ReplicaDto(r.Id, r.AdvertiseUrl.ToString(), membership.IsLive(r) ? "live" : "gone",
                    membership.GoneReason(r), r.StartedAt, r.AgeMs)).ToList())))
            .WithName("get_cluster").WithSummary("Replicas of this cluster (cluster mode)").WithTags("native")
            .WithMetadata(Auth.RequiredScope.Admin);
        return app;
    }
}

public sealed record ClusterDto(string Replica, string AdvertiseUrl, double DeadAfterSeconds, IReadOnlyList<ReplicaDto> Replicas);

public sealed record ReplicaDto(string Id, string AdvertiseUrl, string State, string? Reason, DateTimeOffset StartedAt, long LastHeartbeatMs);
