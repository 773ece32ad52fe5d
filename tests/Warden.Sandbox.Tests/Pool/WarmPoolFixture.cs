using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Pool;

/// <summary>
/// Two engines per backend: one whose every python/javascript/bash run is served warm (a fixed split, no adaptivity,
/// so a sandbox for the language is always refilled), one with the pool off, to compare the two paths' results, and
/// one whose pool keeps no python sandbox ready, so every python run starts its stub sandbox on demand.
/// </summary>
public sealed class WarmPoolFixture : IAsyncLifetime
{
    private readonly Dictionary<string, (TestEngine Warm, TestEngine Cold, TestEngine OnDemand)> _engines = new(StringComparer.Ordinal);

    public async ValueTask InitializeAsync()
    {
        foreach (var backend in Backends.Names)
        {
            var warm = await TestEngine.CreateAsync(backend, new Dictionary<string, string?>
            {
                ["Warden:Pool:Enabled"] = "true",
                ["Warden:Pool:Size"] = "3",
                ["Warden:Pool:Adaptive"] = "false",
                ["Warden:Pool:Targets:python"] = "1",
                ["Warden:Pool:Targets:javascript"] = "1",
                ["Warden:Pool:Targets:bash"] = "1",
            });
            var cold = await TestEngine.CreateAsync(backend, new Dictionary<string, string?> { ["Warden:Pool:Enabled"] = "false" });
            var onDemand = await TestEngine.CreateAsync(backend, new Dictionary<string, string?>
            {
                ["Warden:Pool:Enabled"] = "true",
                ["Warden:Pool:Size"] = "1",
                ["Warden:Pool:Adaptive"] = "false",
                ["Warden:Pool:Targets:python"] = "0",
                ["Warden:Pool:Targets:javascript"] = "0",
                ["Warden:Pool:Targets:bash"] = "1",
            });
            _engines[backend] = (warm, cold, onDemand);
        }
    }

    public TestEngine Warm(string backend) => Engines(backend).Warm;

    public TestEngine Cold(string backend) => Engines(backend).Cold;

    public TestEngine OnDemand(string backend) => Engines(backend).OnDemand;

    private (TestEngine Warm, TestEngine Cold, TestEngine OnDemand) Engines(string backend)
    {
        if (backend == Backends.NoWarmBackend)
            Assert.Skip($"WARDEN_TEST_BACKENDS={string.Join(',', Backends.Names)} lists no backend with warm sandboxes (bwrap, gvisor).");
        return _engines[backend];
    }

    /// <summary>Runs <paramref name="request"/> in a warm sandbox, failing if none was ready (the run went cold).</summary>
    public async Task<ExecutionResult> RunWarmAsync(string backend, ExecutionRequest request)
    {
        var engine = Warm(backend).Engine;
        RequireWarm(backend);
        Assert.True(await engine.Pool.WaitFilledAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken), "the pool did not fill");
        long hits = engine.Pool.Metrics.Hits;
        var result = await engine.RunAsync(request);
        Assert.True(engine.Pool.Metrics.Hits == hits + 1, $"the run did not take a warm sandbox: {engine.Pool.Snapshot()}");
        return result;
    }

    /// <summary>These tests only run for backends with warm sandboxes (<see cref="Backends.WithWarmPool"/>): the pool must be up.</summary>
    public void RequireWarm(string backend) =>
        Assert.True(Warm(backend).Engine.Pool.Running, $"The {backend} backend's warm pool is not running.");

    public async ValueTask DisposeAsync()
    {
        foreach (var (warm, cold, onDemand) in _engines.Values)
        {
            await warm.DisposeAsync();
            await cold.DisposeAsync();
            await onDemand.DisposeAsync();
            foreach (var instance in new[] { warm.Instance, cold.Instance, onDemand.Instance }.OfType<string>())
            {
                var leaks = HostLeaks.ForInstance(instance);
                if (leaks.Count > 0) throw new InvalidOperationException("Disposing left things behind:\n" + string.Join("\n", leaks));
            }
        }
    }
}
