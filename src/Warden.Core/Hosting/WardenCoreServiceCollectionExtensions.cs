using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Warden.Core.Configuration;
using Warden.Core.Egress;
using Warden.Core.Execution;
using Warden.Core.Languages;
using Warden.Core.Limits;
using Warden.Core.Pool;
using Warden.Core.Sandboxing;
using Warden.Core.Sandboxing.Bubblewrap;
using Warden.Core.Sandboxing.Docker;
using Warden.Core.Sandboxing.Gvisor;
using Warden.Core.Sessions;
using Warden.Core.Terminals;
using Warden.Core.Workspaces;

namespace Warden.Core.Hosting;

public static class WardenCoreServiceCollectionExtensions
{
    /// <summary>Registers the engine: options (validated at start), languages, limit policy, backends, execution engine.</summary>
    public static IServiceCollection AddWardenCore(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<WardenOptions>().Bind(configuration.GetSection(WardenOptions.Section)).ValidateWith<WardenOptions, WardenOptionsAttributes>().ValidateOnStart();
        services.AddOptions<LimitsOptions>().Bind(configuration.GetSection(LimitsOptions.Section)).ValidateWith<LimitsOptions, LimitsOptionsAttributes>().ValidateOnStart();
        services.AddOptions<SessionOptions>().Bind(configuration.GetSection(SessionOptions.Section)).ValidateWith<SessionOptions, SessionOptionsAttributes>().ValidateOnStart();
        services.AddOptions<PoolOptions>().Bind(configuration.GetSection(PoolOptions.Section)).ValidateWith<PoolOptions, PoolOptionsAttributes>().ValidateOnStart();
        services.AddOptions<BubblewrapOptions>().Bind(configuration.GetSection(BubblewrapOptions.Section));
        services.AddOptions<SandboxFilesystemOptions>().Bind(configuration.GetSection(SandboxFilesystemOptions.Section));
        services.AddOptions<DockerOptions>().Bind(configuration.GetSection(DockerOptions.Section)).ValidateWith<DockerOptions, DockerOptionsAttributes>().ValidateOnStart();
        services.AddOptions<GvisorOptions>().Bind(configuration.GetSection(GvisorOptions.Section)).ValidateWith<GvisorOptions, GvisorOptionsAttributes>().ValidateOnStart();
        services.AddOptions<TerminalOptions>().Bind(configuration.GetSection(TerminalOptions.Section)).ValidateWith<TerminalOptions, TerminalOptionsAttributes>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Options.IValidateOptions<LimitsOptions>, LimitsOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Options.IValidateOptions<TerminalOptions>, TerminalOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<LanguageCatalog>();
        services.TryAddSingleton<LimitPolicy>();
        services.TryAddSingleton<Admission.MemoryBudget>();
        services.TryAddSingleton<ExecutionStats>();
        services.TryAddSingleton<ExecutionMetrics>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISandboxBackend, BubblewrapBackend>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISandboxBackend, GvisorBackend>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ISandboxBackend, DockerBackend>());
        services.TryAddSingleton<BackendSelector>();
        services.TryAddSingleton<BackendStartup>();
        services.TryAddSingleton<PoolMetrics>();
        services.TryAddSingleton<SandboxPool>();
        services.TryAddSingleton<ExecutionEngine>();
        services.TryAddSingleton<SandboxCheck>();
        services.TryAddSingleton<KernelCatalog>();
        services.TryAddSingleton<ISessionRegistry, LocalSessionRegistry>();
        services.TryAddSingleton<SessionManager>();
        services.TryAddSingleton<UserWorkspaces>();
        services.TryAddSingleton<UserHomes>();
        services.TryAddSingleton<TerminalManager>();
        services.AddWardenEgress(configuration);
        // The old host-network switch is the ceiling "*" now (strictly narrower), said once at start-up.
        if (NetworkAlias.Applies(configuration))
        {
            services.PostConfigure<Egress.EgressOptions>(o => o.Allow = "*");
            services.AddSingleton<IHostedService>(sp => new NetworkAliasWarning(sp.GetRequiredService<ILogger<NetworkAliasWarning>>()));
        }
        // A non-empty ceiling is a surface of its own: start-up refuses a backend that cannot give a run an egress network.
        if (!string.IsNullOrWhiteSpace(NetworkAlias.Ceiling(configuration)))
            services.AddSingleton(new SurfaceRequirement("network access (WARDEN_EGRESS_ALLOW)", BackendFeature.Egress,
                "WARDEN_EGRESS_ALLOW= (empty) / Warden:Egress:Allow"));
        // Read here, where the configuration is at hand: a host runs the warning once when it starts.
        var retired = RetiredSettings.In(configuration);
        if (retired.Count > 0)
            services.AddSingleton<IHostedService>(sp => new RetiredSettingsWarning(retired, sp.GetRequiredService<ILogger<RetiredSettingsWarning>>()));
        return services;
    }
}
