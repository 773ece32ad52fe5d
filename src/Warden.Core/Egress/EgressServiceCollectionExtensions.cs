using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Warden.Core.Hosting;

namespace Warden.Core.Egress;

public static class EgressServiceCollectionExtensions
{
    /// <summary>
    /// Registers the egress proxy (one per process), its options (validated at start) and metrics. A host plugs its
    /// audit recorder in by registering an <see cref="IEgressAuditSink"/> (e.g. a <see cref="DelegateEgressAuditSink"/>)
    /// before or after this; without one, records go to metrics and the debug log only.
    /// </summary>
    public static IServiceCollection AddWardenEgress(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<EgressOptions>().Bind(configuration.GetSection(EgressOptions.Section)).ValidateWith<EgressOptions, EgressOptionsAttributes>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<EgressOptions>, EgressOptionsValidator>());
        services.TryAddSingleton<IEgressAuditSink, NullEgressAuditSink>();
        services.TryAddSingleton<EgressMetrics>();
        services.TryAddSingleton<EgressProxy>();
        return services;
    }
}
