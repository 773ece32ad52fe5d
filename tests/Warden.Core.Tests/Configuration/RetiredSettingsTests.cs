using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Warden.Core.Configuration;
using Warden.Core.Hosting;
using Warden.Core.Pool;
using Warden.Core.Sandboxing.Docker;

namespace Warden.Core.Tests.Configuration;

/// <summary>
/// A deployment that still sets a removed setting (the python zygote's) keeps starting, and says so once: the setting
/// is named in one warning with what happens instead, never silently dropped.
/// </summary>
public sealed class RetiredSettingsTests
{
    [Theory]
    [InlineData("WARDEN_POOL_ZYGOTE", "true")]
    [InlineData("warden_pool_zygote", "false")]
    public async Task Start_ZygoteVariableSet_WarnsOnceNamingItAndStarts(string variable, string value)
    {
        var configuration = new ConfigurationBuilder()
            .AddWardenSources(configFile: null, environment: new Dictionary<string, string?> { [variable] = value, ["WARDEN_POOL"] = "true" }).Build();

        var logs = await StartAsync(configuration);

        var warning = Assert.Single(logs);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("Warden:Pool:Zygote", warning.Message);
        Assert.Contains("WARDEN_POOL_ZYGOTE", warning.Message);
        Assert.Contains($"'{value}'", warning.Message);
        Assert.Contains("ignored", warning.Message);
    }

    [Fact]
    public async Task Start_ZygoteKeyInConfigFile_WarnsOnce()
    {
        var path = Path.Combine(Path.GetTempPath(), $"warden-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(path, """{ "Warden": { "Pool": { "Enabled": true, "Zygote": true } } }""", TestContext.Current.CancellationToken);
        try
        {
            var configuration = new ConfigurationBuilder().AddWardenSources(path, environment: new Dictionary<string, string?>()).Build();

            var logs = await StartAsync(configuration);

            Assert.Contains("Warden:Pool:Zygote", Assert.Single(logs).Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// Warden:Docker:User gave every docker container one host uid; each now leases its own. A deployment that still sets
    /// it starts (the options bind without it) and hears that it is ignored.
    /// </summary>
    [Theory]
    [InlineData("WARDEN_DOCKER__USER")]
    [InlineData("warden_docker__user")]
    public async Task Start_DockerUserSet_WarnsOnceNamingItAndStarts(string variable)
    {
        var configuration = new ConfigurationBuilder()
            .AddWardenSources(configFile: null, environment: new Dictionary<string, string?> { [variable] = "1000:1000", ["WARDEN_POOL"] = "true" }).Build();

        var logs = await StartAsync(configuration);

        var warning = Assert.Single(logs);
        Assert.Contains("Warden:Docker:User", warning.Message);
        Assert.Contains("'1000:1000'", warning.Message);
        Assert.Contains("ignored", warning.Message);
        Assert.Contains("Warden:SandboxUidBase", warning.Message);
        // The leftover key is the section's only one: it still binds, to the defaults.
        var docker = configuration.GetSection(DockerOptions.Section).Get<DockerOptions>();
        Assert.NotNull(docker);
        Assert.Equal("warden-runtime:latest", docker.Image);
    }

    [Fact]
    public async Task Start_NoRetiredSetting_WarnsNothing()
    {
        var configuration = new ConfigurationBuilder()
            .AddWardenSources(configFile: null, environment: new Dictionary<string, string?> { ["WARDEN_POOL"] = "true" }).Build();

        Assert.Empty(await StartAsync(configuration));
    }

    /// <summary>
    /// What a host does with the engine's registrations: binds the pool's options (what remains must still bind), then
    /// starts every hosted service the engine registered. (No DI container here: the test project has only its abstractions.)
    /// </summary>
    private static async Task<IReadOnlyList<Entry>> StartAsync(IConfiguration configuration)
    {
        var logs = new CapturingLoggerFactory();
        var services = new ServiceCollection().AddWardenCore(configuration);
        Assert.True(configuration.GetSection(PoolOptions.Section).Get<PoolOptions>()!.Enabled);
        var provider = new LoggerOnlyProvider(logs);
        foreach (var descriptor in services.Where(d => d.ServiceType == typeof(IHostedService)))
        {
            var hosted = (IHostedService)descriptor.ImplementationFactory!(provider);
            await hosted.StartAsync(TestContext.Current.CancellationToken);
        }
        return [.. logs.Entries.Where(e => e.Level >= LogLevel.Warning)];
    }

    private sealed class LoggerOnlyProvider(ILoggerFactory factory) : IServiceProvider
    {
        public object? GetService(Type serviceType) =>
            serviceType.IsGenericType && serviceType.GetGenericTypeDefinition() == typeof(ILogger<>)
                ? Activator.CreateInstance(typeof(Logger<>).MakeGenericType(serviceType.GenericTypeArguments), factory)
                : null;
    }

    private sealed record Entry(LogLevel Level, string Message);

    private sealed class CapturingLoggerFactory : ILoggerFactory
    {
        public ConcurrentQueue<Entry> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new CapturingLogger(Entries);

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }
    }

    private sealed class CapturingLogger(ConcurrentQueue<Entry> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            entries.Enqueue(new Entry(logLevel, formatter(state, exception)));
    }
}
