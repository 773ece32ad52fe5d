using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Warden.Core;
using Warden.Core.Configuration;
using Warden.Core.Execution;
using Warden.Core.Hosting;
using Warden.Core.Limits;

namespace Warden.Sandbox.Tests.Infrastructure;

/// <summary>
/// One engine for one backend, built the way the CLI and server build it (configuration sources + AddWardenCore), with
/// the backend started up front so a broken host shows up once, not in every test. Disposing the provider disposes the
/// backend, which must take every cgroup, mount and process of the instance with it.
/// The warm pool follows the product default (off) unless <c>WARDEN_TEST_POOL=on</c>: the suites pass both ways, and with
/// it on every python, javascript and bash run of the default profile is served by a warm sandbox whenever one is ready.
/// The warm-path tests (Pool/) always turn it on.
/// </summary>
public sealed class TestEngine : IAsyncDisposable
{
    private readonly ServiceProvider? _provider;
    private readonly ExecutionEngine? _engine;

    private TestEngine(string backend, ServiceProvider? provider, ExecutionEngine? engine, string? unavailable, string? instance)
    {
        Backend = backend;
        _provider = provider;
        _engine = engine;
        UnavailableReason = unavailable;
        Instance = instance;
    }

    public string Backend { get; }

    /// <summary>The engine's services (its options, its meters), for tests that look beneath the engine.</summary>
    public IServiceProvider Services => _provider ?? throw SandboxRequirement.Unavailable(Backend, UnavailableReason ?? "unknown");

    /// <summary>
    /// <c>WARDEN_TEST_POOL</c>: on, or off (default, as the product). Any other value stops the suite rather than running
    /// it cold under a name that promises otherwise (<c>zygote</c> was a pass of its own until the python zygote was removed).
    /// </summary>
    public static bool PoolEnabled { get; } = Environment.GetEnvironmentVariable("WARDEN_TEST_POOL") switch
    {
        "on" or "true" or "1" => true,
        null or "" or "off" or "false" or "0" => false,
        var other => throw new InvalidOperationException($"WARDEN_TEST_POOL={other}: expected on or off (the zygote pass is gone with the python zygote)."),
    };

    /// <summary>Why the backend cannot run on this host (probe failed, backend unknown), or null.</summary>
    public string? UnavailableReason { get; }

    /// <summary>The instance name the backend uses in host resources (cgroups, mounts), when it reports one.</summary>
    public string? Instance { get; }

    /// <summary>The engine; skips (locally) or fails (CI) the calling test when the backend cannot run here.</summary>
    public ExecutionEngine Engine => _engine ?? throw SandboxRequirement.Unavailable(Backend, UnavailableReason ?? "unknown");

    public static async Task<TestEngine> CreateAsync(string backend, IReadOnlyDictionary<string, string?>? extra = null)
    {
        var overrides = new Dictionary<string, string?>
        {
            ["Warden:Backend"] = backend,
            ["Warden:MaxConcurrent"] = "4",
            ["Warden:Pool:Enabled"] = PoolEnabled ? "true" : "false",
            ["Warden:Pool:Size"] = "4",
            // Fixed targets: an adaptive pool retires and starts sandboxes as demand shifts, and the suites' "nothing
            // left behind" checks count host processes. Adaptivity has its own tests (Pool/).
            ["Warden:Pool:Adaptive"] = "false",
            ["Warden:Pool:Targets:python"] = "2",
            ["Warden:Pool:Targets:javascript"] = "1",
            ["Warden:Pool:Targets:bash"] = "1",
        };
        // Engineers running suites side by side give each its own state directory (one process per directory).
        if (Environment.GetEnvironmentVariable("WARDEN_TEST_STATE_DIR") is { Length: > 0 } state) overrides["Warden:StateDirectory"] = state;
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>()) overrides[key] = value;

        var configuration = new ConfigurationBuilder().AddWardenSources(null, overrides).Build();
        var services = new ServiceCollection();
        services.AddSingleton(typeof(ILogger<>), typeof(NullLogger<>));
        services.AddWardenCore(configuration);
        var provider = services.BuildServiceProvider();

        ExecutionEngine engine;
        try
        {
            // Resolving the options runs their validators, as the hosts do at start-up.
            _ = provider.GetRequiredService<IOptions<WardenOptions>>().Value;
            _ = provider.GetRequiredService<IOptions<LimitsOptions>>().Value;
            engine = provider.GetRequiredService<ExecutionEngine>();
        }
        catch (OptionsValidationException e)
        {
            await provider.DisposeAsync();
            return new TestEngine(backend, null, null, e.Message, null);
        }

        var probe = engine.Backend.Probe();
        if (!probe.CanRun)
        {
            await provider.DisposeAsync();
            var failed = probe.Checks.Where(c => c.Required && !c.Ok).Select(c => $"{c.Name}: {c.Detail}");
            return new TestEngine(backend, null, null, string.Join("; ", failed), null);
        }

        // The probe says it can run: from here on a failure is a real failure, not a reason to skip.
        await engine.StartAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        if (engine.Pool.Running) await engine.Pool.WaitFilledAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
        return new TestEngine(backend, provider, engine, null, engine.Backend.Status().Instance);
    }

    /// <summary>Waits for this engine's background work: a full warm pool, every slot idle, nothing being recycled.</summary>
    public async Task SettleAsync()
    {
        if (_engine is not { } engine) return;
        if (engine.Pool.Running) await engine.Pool.WaitFilledAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            bool idle = engine.Backend.Status().Slots is not { } slots || (slots.Idle == slots.Total && slots.Recycling == 0);
            if (idle) break;
            await Task.Delay(20, CancellationToken.None);
        }
        // A warm sandbox counts as ready once bwrap was told to start; it forks its pid-1 and the stub a moment later.
        // Wait until the instance's process count holds still.
        if (Instance is not { } instance) return;
        int last = -1, stableFor = 0;
        while (DateTime.UtcNow < deadline && stableFor < 3)
        {
            int count = HostProcesses.WithCommandLine(instance).Count;
            stableFor = count == last ? stableFor + 1 : 0;
            last = count;
            await Task.Delay(100, CancellationToken.None);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_provider is not null) await _provider.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60));
    }
}
