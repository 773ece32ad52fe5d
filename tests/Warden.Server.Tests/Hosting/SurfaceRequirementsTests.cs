using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Sandboxing;
using Warden.Server.Hosting;

namespace Warden.Server.Tests.Hosting;

/// <summary>
/// The server's surfaces that need long-lived sandboxes, read from the settings that turn them on and off, and what an
/// operator is told when the configured backend cannot serve them.
/// </summary>
public sealed class SurfaceRequirementsTests
{
    private static List<SurfaceRequirement> Requirements(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        using var provider = new ServiceCollection().AddSurfaceRequirements(configuration).BuildServiceProvider();
        return [.. provider.GetServices<SurfaceRequirement>()];
    }

    [Fact]
    public void AddSurfaceRequirements_Defaults_SessionsAndOpenTerminalNeedLongLivedSandboxes()
    {
        var needs = Requirements([]).Select(r => r.Needs).Order().ToList();

        Assert.Equal([BackendFeature.LongLivedSandboxes, BackendFeature.PersistentHomes], needs);
    }

    [Fact]
    public void AddSurfaceRequirements_BothTurnedOff_NothingNeeded() =>
        Assert.Empty(Requirements(new() { ["Warden:Sessions:MaxSessions"] = "0", ["Warden:OpenTerminal:Enabled"] = "false" }));

    [Fact]
    public void Refuse_BackendWithoutLongLivedSandboxes_NamesEachSurfaceAndItsSetting()
    {
        var error = Assert.Throws<InvalidOperationException>(() => BackendStartup.Refuse(new ExecutionsOnly(), Requirements([])));

        Assert.Contains("The executions-only backend cannot serve sessions (/api/v1/sessions, Jupyter kernels, the MCP run_python tool)", error.Message,
            StringComparison.Ordinal);
        Assert.Contains("Warden:Sessions:MaxSessions=0 (WARDEN_MAX_SESSIONS=0)", error.Message, StringComparison.Ordinal);
        Assert.Contains("Open Terminal (/terminal and the MCP terminal tools)", error.Message, StringComparison.Ordinal);
        Assert.Contains("Warden:OpenTerminal:Enabled=false (WARDEN_OPEN_TERMINAL_ENABLED=false)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Refuse_SurfacesTurnedOff_BackendWithoutLongLivedSandboxesAccepted() =>
        BackendStartup.Refuse(new ExecutionsOnly(), Requirements(new() { ["Warden:Sessions:MaxSessions"] = "0", ["Warden:OpenTerminal:Enabled"] = "false" }));

    /// <summary>A backend that declares single executions only; it is never started here.</summary>
    private sealed class ExecutionsOnly : ISandboxBackend
    {
        public string Name => "executions-only";
        public BackendCapabilities Capabilities { get; } = new();
        public BackendProbe Probe() => new(Name, []);
        public Task StartAsync(CancellationToken cancellationToken) => throw new InvalidOperationException("never started");
        public ValueTask<ISandbox> AcquireAsync(CancellationToken cancellationToken) => throw new InvalidOperationException("never started");
        public BackendStatus Status() => new() { Backend = Name, Instance = "none", CgroupVersion = "none" };
    }
}
