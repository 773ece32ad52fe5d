using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Warden.Core.Hosting;
using Warden.Core.Sandboxing;
using Warden.Core.Sessions;

namespace Warden.Sessions.Tests;

/// <summary>A real engine (the backend <see cref="TestBackend"/> names, cgroups) with a SessionManager, configured per test; disposing destroys it all.</summary>
public sealed class SessionHost : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private SessionHost(ServiceProvider services)
    {
        _services = services;
        Sessions = services.GetRequiredService<SessionManager>();
        Backend = services.GetRequiredService<BackendSelector>().Selected;
    }

    public SessionManager Sessions { get; }

    public ISandboxBackend Backend { get; }

    public IServiceProvider Services => _services;

    public static async Task<SessionHost> StartAsync(Dictionary<string, string?>? settings = null, TimeProvider? time = null,
        Action<IServiceCollection>? configure = null)
    {
        // Warm kernels (on in the product) run under sandbox names of their own, not the session's: the suites that look for
        // a session's sandboxes by its id run without them; WarmKernelTests turns them on.
        var values = new Dictionary<string, string?>
        {
            ["Warden:MaxConcurrent"] = "1", ["Warden:Backend"] = TestBackend.Name, ["Warden:Sessions:WarmKernels"] = "0",
        };
        // Engineers running suites side by side give each its own state directory (one process per directory).
        if (Environment.GetEnvironmentVariable("WARDEN_TEST_STATE_DIR") is { Length: > 0 } state) values["Warden:StateDirectory"] = state;
        foreach (var (k, v) in settings ?? []) values[k] = v;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddConsole().SetMinimumLevel(LogLevel.Warning));
        if (time is not null) services.AddSingleton(time);
        services.AddWardenCore(configuration);
        configure?.Invoke(services);
        var provider = services.BuildServiceProvider();
        var host = new SessionHost(provider);
        RequireSandbox(host.Backend);
        await provider.GetRequiredService<BackendStartup>().StartAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(60));
        return host;
    }

    /// <summary>Skips when this host cannot sandbox, except under CI or WARDEN_REQUIRE_SANDBOX=1, where that fails.</summary>
    private static void RequireSandbox(ISandboxBackend backend)
    {
        var probe = backend.Probe();
        if (probe.CanRun) return;
        var reason = string.Join("; ", probe.Checks.Where(c => !c.Ok && c.Required).Select(c => $"{c.Name}: {c.Detail}"));
        if (Environment.GetEnvironmentVariable("CI") == "true" || Environment.GetEnvironmentVariable("WARDEN_REQUIRE_SANDBOX") == "1")
            Assert.Fail($"The sandbox backend cannot run here, and sandbox tests must not be skipped: {reason}");
        Assert.Skip($"The sandbox backend cannot run here: {reason}");
    }

    /// <summary>The backend instance's name: its cgroups live under /sys/fs/cgroup/*/warden/&lt;instance&gt;.</summary>
    public string Instance => Backend.Status().Instance;

    public async ValueTask DisposeAsync() => await _services.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60));
}
