using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Pool;

/// <summary>
/// Two engines per backend: one whose every python/javascript/bash run is served warm (a fixed split, no adaptivity,
/// so a sandbox for the language is always refilled) and one with the pool off, to compare the two paths' results.
/// </summary>
public sealed class WarmPoolFixture : IAsyncLifetime
{
    private readonly Dictionary<string, (TestEngine Warm, TestEngine Cold)> _engines = new(StringComparer.Ordinal);

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
            _engines[backend] = (warm, cold);
        }
    }

    public TestEngine Warm(string backend) => Engines(backend).Warm;

    public TestEngine Cold(string backend) => Engines(backend).Cold;

    private (TestEngine Warm, TestEngine Cold) Engines(string backend)
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
        foreach (var (warm, cold) in _engines.Values)
        {
            await warm.DisposeAsync();
            await cold.DisposeAsync();
            foreach (var instance in new[] { warm.Instance, cold.Instance }.OfType<string>())
            {
                var leaks = HostLeaks.ForInstance(instance);
                if (leaks.Count > 0) throw new InvalidOperationException("Disposing left things behind:\n" + string.Join("\n", leaks));
            }
        }
    }
}
