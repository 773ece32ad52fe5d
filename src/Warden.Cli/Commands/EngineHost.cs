using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core;
using Warden.Core.Configuration;
using Warden.Core.Hosting;
using Warden.Core.Limits;

namespace Warden.Cli.Commands;

/// <summary>The engine without the HTTP server, for verbs that run sandboxes in-process (run, self-test, doctor).</summary>
internal sealed class EngineHost : IAsyncDisposable
{
    private readonly ServiceProvider _provider;

    private EngineHost(ServiceProvider provider) => _provider = provider;

    public IServiceProvider Services => _provider;

    public T Get<T>() where T : notnull => _provider.GetRequiredService<T>();

    /// <summary>Builds and validates the configuration; throws <see cref="OptionsValidationException"/> naming a bad setting.</summary>
    public static EngineHost Create(string? configFile, IReadOnlyDictionary<string, string?> overrides)
    {
        var configuration = new ConfigurationBuilder().AddWardenSources(configFile, overrides).Build();
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning)
            .AddFilter("Microsoft", LogLevel.Warning));
        // Console logging goes to stderr so it never mixes with the program's stdout.
        services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        services.AddWardenCore(configuration);
        var provider = services.BuildServiceProvider();
        _ = provider.GetRequiredService<IOptions<WardenOptions>>().Value;
        _ = provider.GetRequiredService<IOptions<LimitsOptions>>().Value;
        return new EngineHost(provider);
    }

    public async ValueTask DisposeAsync() => await _provider.DisposeAsync();
}
