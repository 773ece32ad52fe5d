using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Warden.Core.Sandboxing;

namespace Warden.Core.Tests.Sandboxing;

public sealed class BackendStartupTests
{
    private static readonly SurfaceRequirement Sessions =
        new("sessions", BackendFeature.LongLivedSandboxes, "Warden:Sessions:MaxSessions=0 (WARDEN_MAX_SESSIONS=0)");

    private static readonly SurfaceRequirement Terminal =
        new("Open Terminal", BackendFeature.PersistentHomes, "Warden:OpenTerminal:Enabled=false (WARDEN_OPEN_TERMINAL_ENABLED=false)");

    private static (BackendStartup Startup, BackendSelector Selector) Create(string wanted, IReadOnlyList<SurfaceRequirement> surfaces,
        params ISandboxBackend[] backends)
    {
        var selector = new BackendSelector(backends, Options.Create(new WardenOptions { Backend = wanted }), surfaces);
        return (new BackendStartup(selector, surfaces, NullLogger<BackendStartup>.Instance), selector);
    }

    [Fact]
    public async Task StartAsync_SurfaceNeedsLongLivedSandboxes_BackendHasNone_RefusesNamingTheSettings()
    {
        var backend = new StubBackend("plain", new BackendCapabilities());
        var (startup, _) = Create("plain", [Sessions, Terminal], backend);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => startup.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains("The plain backend cannot serve sessions", error.Message, StringComparison.Ordinal);
        Assert.Contains("WARDEN_MAX_SESSIONS=0", error.Message, StringComparison.Ordinal);
        Assert.Contains("Open Terminal", error.Message, StringComparison.Ordinal);
        Assert.Contains("WARDEN_OPEN_TERMINAL_ENABLED=false", error.Message, StringComparison.Ordinal);
        Assert.Contains("WARDEN_BACKEND", error.Message, StringComparison.Ordinal);
        // Refused before anything was set up on the host.
        Assert.Equal(0, backend.Starts);
        Assert.False(startup.Started);
    }

    private static readonly SurfaceRequirement Egress =
        new("network access (WARDEN_EGRESS_ALLOW)", BackendFeature.Egress, "WARDEN_EGRESS_ALLOW= (empty) / Warden:Egress:Allow");

    /// <summary>A non-empty egress ceiling on a backend whose NetworkModes lack "egress": refused, naming why and the setting.</summary>
    [Theory]
    [InlineData("docker", "the runc runtime")]
    [InlineData("bwrap", "Warden running as root")]
    public async Task StartAsync_EgressCeiling_BackendWithoutEgress_RefusesNamingWhy(string name, string why)
    {
        var backend = new StubBackend(name, new BackendCapabilities { NetworkModes = ["none"] });
        var (startup, _) = Create(name, [Egress], backend);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => startup.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains($"The {name} backend cannot serve network access (WARDEN_EGRESS_ALLOW)", error.Message, StringComparison.Ordinal);
        Assert.Contains(why, error.Message, StringComparison.Ordinal);
        Assert.Contains("WARDEN_EGRESS_ALLOW= (empty)", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, backend.Starts);
    }

    [Fact]
    public async Task StartAsync_EgressCeiling_BackendWithEgress_Starts()
    {
        var backend = new StubBackend("bwrap", new BackendCapabilities { NetworkModes = ["none", "egress"] });
        var (startup, _) = Create("bwrap", [Egress], backend);

        await startup.StartAsync(TestContext.Current.CancellationToken);

        Assert.Equal(1, backend.Starts);
    }

    [Fact]
    public async Task StartAsync_NoSurfaceNeedsMore_StartsABackendWithoutLongLivedSandboxes()
    {
        var backend = new StubBackend("plain", new BackendCapabilities());
        var (startup, _) = Create("plain", [], backend);

        await startup.StartAsync(TestContext.Current.CancellationToken);

        Assert.True(startup.Started);
        Assert.Equal(1, backend.Starts);
    }

    [Fact]
    public async Task StartAsync_BackendServesEverySurface_Starts()
    {
        var backend = new StubSessionBackend("full");
        var (startup, _) = Create("full", [Sessions, Terminal], backend);

        await startup.StartAsync(TestContext.Current.CancellationToken);

        Assert.Same(backend, await startup.SessionsAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task StartAsync_ManyConcurrentCallers_StartTheBackendOnce()
    {
        var backend = new StubSessionBackend("full");
        var (startup, _) = Create("full", [], backend);

        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => startup.StartAsync(TestContext.Current.CancellationToken))));
        await startup.StartAsync(TestContext.Current.CancellationToken);

        Assert.Equal(1, backend.Starts);
    }

    [Fact]
    public async Task StartAsync_AfterAFailedStart_TriesAgain()
    {
        var backend = new StubBackend("plain", new BackendCapabilities()) { FailNextStart = new IOException("cgroups busy") };
        var (startup, _) = Create("plain", [], backend);

        await Assert.ThrowsAsync<IOException>(() => startup.StartAsync(TestContext.Current.CancellationToken));
        await startup.StartAsync(TestContext.Current.CancellationToken);

        Assert.Equal(2, backend.Starts);
        Assert.True(startup.Started);
    }

    [Fact]
    public void Auto_PreferredBackendCannotServeAnEnabledSurface_PicksOneThatCan()
    {
        var gvisor = new StubBackend("gvisor", new BackendCapabilities());
        var bwrap = new StubSessionBackend("bwrap");

        Assert.Same(bwrap, Create("auto", [Sessions], gvisor, bwrap).Selector.Selected);
        Assert.Same(gvisor, Create("auto", [], gvisor, bwrap).Selector.Selected);
    }

    [Fact]
    public void Selector_BackendDeclaresLongLivedSandboxesItDoesNotImplement_Refused()
    {
        var liar = new StubBackend("liar", new BackendCapabilities { LongLivedSandboxes = true });

        var error = Assert.Throws<InvalidOperationException>(() => Create("liar", [], liar));

        Assert.Contains(nameof(ISessionBackend), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_BackendImplementsSessionsItsConfigurationRulesOut_SurfacesRefusedAtStartUp()
    {
        // Docker under another runtime: the code is there, the configuration cannot serve it, the declaration says so.
        var shy = new ShyBackend();
        var (startup, _) = Create("shy", [Sessions], shy);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => startup.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains("The shy backend cannot serve sessions", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, shy.Starts);
    }

    private sealed class ShyBackend() : StubBackend("shy", new BackendCapabilities()), ISessionBackend
    {
        public ValueTask<ISessionSandbox> StartSessionAsync(SessionSpec spec, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("The stub runs nothing.");
    }
}
