namespace Warden.Sandbox.Tests.Infrastructure;

/// <summary>
/// Collection fixture: one engine per backend under test, shared by every sandbox test, checked for leftovers on dispose.
/// It also plants a secret in this process's environment before any engine exists, which no sandbox may ever see.
/// </summary>
public sealed class SandboxEngines : IAsyncLifetime
{
    public const string SecretVariable = "SANDBOX_SUITE_CANARY_SECRET";

    private readonly Dictionary<string, TestEngine> _engines = new(StringComparer.Ordinal);

    public string Secret { get; } = "canary-" + Guid.NewGuid().ToString("N");

    public async ValueTask InitializeAsync()
    {
        Environment.SetEnvironmentVariable(SecretVariable, Secret);
        foreach (var backend in Backends.Names) _engines[backend] = await TestEngine.CreateAsync(backend);
    }

    public TestEngine this[string backend] => _engines[backend];

    /// <summary>
    /// Waits until no shared engine has background work under way (warm pool refills, slots being recycled after their
    /// result was returned), so host-wide process and mount counts taken now stay put unless a test changes them.
    /// </summary>
    public async Task SettleAsync()
    {
        foreach (var engine in _engines.Values) await engine.SettleAsync();
    }

    public async ValueTask DisposeAsync()
    {
        var leaks = new List<string>();
        foreach (var engine in _engines.Values)
        {
            await engine.DisposeAsync();
            if (engine.Instance is { } instance) leaks.AddRange(HostLeaks.ForInstance(instance));
        }
        Environment.SetEnvironmentVariable(SecretVariable, null);
        if (leaks.Count > 0) throw new InvalidOperationException("Disposing the engines left things behind:\n" + string.Join("\n", leaks));
    }
}

[CollectionDefinition(nameof(SandboxCollection))]
public sealed class SandboxCollection : ICollectionFixture<SandboxEngines>;
