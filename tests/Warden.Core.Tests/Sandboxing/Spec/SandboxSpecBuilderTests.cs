using Warden.Core.Sandboxing;
using Warden.Core.Sandboxing.Bubblewrap;
using Warden.Core.Sandboxing.Docker;
using Warden.Core.Sandboxing.Gvisor;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Tests.Sandboxing.Spec;

public sealed class SandboxSpecBuilderTests
{
    private static readonly SandboxCommand Command = new(["/bin/true"], new Dictionary<string, string> { ["B"] = "2", ["A"] = "1" }, []);

    private static readonly EgressEndpoint Netns = new("/proc/1/fd/9");

    private static SandboxSpec Build(SandboxBase shared, bool network = false, string workspace = SandboxSpecBuilder.DefaultWorkspace,
        EgressEndpoint? egress = null) =>
        SandboxSpecBuilder.Build(shared, new SandboxUser(1000, 1000), TestLimits.Create(network: network), Command,
            new WorkspaceMount("/host/ws", workspace, 1 << 20), egress: egress ?? (network ? Netns : null));

    private static readonly SandboxBase Bwrap = new BwrapLayout("/etc-copy", ["/usr"], [("usr/bin", "/bin")], []).Base();
    private static readonly SandboxBase Gvisor = new GvisorLayout("/rootfs", ["/usr"], []).Base();
    private static readonly SandboxBase Docker = new(new ImageRoot("image"), []);

    [Theory]
    [InlineData(false, "None")]
    [InlineData(true, "Egress")]
    public void Build_Network_AlwaysOwnNamespace_InetOnlyForEgress(bool network, string policy)
    {
        var spec = Build(Bwrap, network);

        Assert.Equal(policy, spec.Network.ToString());
        Assert.True(spec.Namespaces.HasFlag(SandboxNamespaces.Network));
        Assert.Equal(network, spec.Seccomp.AllowInetSockets);
        Assert.Equal(network ? Netns : null, spec.Egress);
    }

    /// <summary>A run granted network whose backend brought no egress network gets no network at all: refused.</summary>
    [Fact]
    public void Build_NetworkWithoutEgressNetwork_Refused()
    {
        var e = Assert.Throws<InvalidOperationException>(() => SandboxSpecBuilder.Build(Bwrap, new SandboxUser(1000, 1000),
            TestLimits.Create(network: true), Command, new WorkspaceMount("/host/ws", "/sandbox")));
        Assert.Contains("egress", e.Message, StringComparison.Ordinal);
    }

    /// <summary>An egress network handed to a run without network is ignored: the grant is the limits', not the caller's.</summary>
    [Fact]
    public void Build_EgressNetworkWithoutGrant_NoNetwork()
    {
        var spec = Build(Bwrap, network: false, egress: Netns);

        Assert.Equal(NetworkPolicy.None, spec.Network);
        Assert.Null(spec.Egress);
        Assert.False(spec.Seccomp.AllowInetSockets);
        Assert.DoesNotContain(spec.Environment, kv => kv.Key.Contains("proxy", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// Termination configured: the CA files bound read-only at fixed paths and every TLS client pointed at them (the
    /// command's own values replaced). Without termination, or without a network grant, neither.
    /// </summary>
    [Theory]
    [InlineData(true, true)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void Build_Trust_OnlyWithEgressAndTermination(bool network, bool terminated)
    {
        var trust = new Warden.Core.Egress.EgressTrustFiles("/state/egress/ca-bundle.pem", "/state/egress/ca.pem");
        var command = Command with { Environment = new Dictionary<string, string> { ["SSL_CERT_FILE"] = "/tmp/mine.pem", ["A"] = "1" } };
        var spec = SandboxSpecBuilder.Build(Bwrap, new SandboxUser(1000, 1000), TestLimits.Create(network: network), command,
            new WorkspaceMount("/host/ws", "/sandbox"), egress: new EgressEndpoint("/proc/1/fd/9", terminated ? trust : null));
        var env = spec.Environment.ToDictionary(kv => kv.Key, kv => kv.Value);
        var binds = spec.Mounts.OfType<ReadOnlyBind>().Where(b => b.Target.StartsWith("/etc/warden/", StringComparison.Ordinal)).ToList();
        string[] bundleVars = ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"];

        if (network && terminated)
        {
            Assert.Equal([new ReadOnlyBind(trust.BundlePath, "/etc/warden/ca-bundle.pem"), new ReadOnlyBind(trust.CaPath, "/etc/warden/ca.pem")], binds);
            foreach (var name in bundleVars) Assert.Equal("/etc/warden/ca-bundle.pem", env[name]);
            Assert.Equal("/etc/warden/ca.pem", env["NODE_EXTRA_CA_CERTS"]);
            // After /etc, which they sit in, and before the sandbox's own mounts.
            Assert.True(spec.Mounts.ToList().FindIndex(m => m.Target == "/etc") < spec.Mounts.ToList().IndexOf(binds[0]));
        }
        else
        {
            Assert.Empty(binds);
            foreach (var name in bundleVars.Append("NODE_EXTRA_CA_CERTS").Where(n => n != "SSL_CERT_FILE")) Assert.False(env.ContainsKey(name), name);
            // Without trust the command's own value stays: nothing of Warden's to point at.
            Assert.Equal("/tmp/mine.pem", env["SSL_CERT_FILE"]);
        }
        Assert.Equal("1", env["A"]);
    }

    /// <summary>Both cases of every proxy variable, the same value; the command's own proxy settings are replaced.</summary>
    [Fact]
    public void Build_Egress_ProxyEnvironmentBothCases()
    {
        var command = Command with { Environment = new Dictionary<string, string> { ["https_proxy"] = "http://evil:1", ["A"] = "1" } };
        var spec = SandboxSpecBuilder.Build(Bwrap, new SandboxUser(1000, 1000), TestLimits.Create(network: true), command,
            new WorkspaceMount("/host/ws", "/sandbox"), egress: Netns);
        var env = spec.Environment.ToDictionary(kv => kv.Key, kv => kv.Value);

        foreach (var name in new[] { "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy" })
            Assert.Equal("http://127.0.0.1:3128", env[name]);
        Assert.Equal("localhost,127.0.0.1,::1", env["NO_PROXY"]);
        Assert.Equal("localhost,127.0.0.1,::1", env["no_proxy"]);
        Assert.Equal("1", env["NODE_USE_ENV_PROXY"]);
        Assert.Equal("1", env["A"]);
        Assert.Equal(spec.Environment.Select(kv => kv.Key).Order(StringComparer.Ordinal), spec.Environment.Select(kv => kv.Key));
    }

    [Fact]
    public void Build_Workspace_IsTheWorkingDirectoryAndTheLastMount()
    {
        var spec = Build(Bwrap, workspace: "/home/user");

        Assert.Equal("/home/user", spec.WorkingDirectory);
        Assert.Same(spec.Workspace, spec.Mounts[^1]);
        Assert.Equal(["A", "B"], spec.Environment.Select(kv => kv.Key));
    }

    [Fact]
    public void Build_ExitReport_MountedAfterDevAndNoExec()
    {
        var spec = SandboxSpecBuilder.Build(Bwrap, new SandboxUser(1000, 1000), TestLimits.Create(), Command,
            new WorkspaceMount("/host/ws", "/sandbox"), exitReport: "/host/fifo");

        var report = Assert.Single(spec.Mounts.OfType<WritableBind>());
        Assert.True(report.NoExec);
        Assert.True(spec.Mounts.ToList().FindIndex(m => m is DevMount) < spec.Mounts.ToList().IndexOf(report));
    }

    /// <summary>
    /// A spec without a network namespace, or an egress spec without the namespace it must join, is refused, never
    /// rendered half-way (fail closed: no rendering can put a sandbox on the host's network).
    /// </summary>
    [Fact]
    public void Renderers_NoOwnNamespaceOrEgressWithoutNamespace_Refuse()
    {
        var shared = Build(Bwrap);
        Assert.Throws<ArgumentException>(() => BwrapRenderer.Arguments(shared with { Namespaces = shared.Namespaces & ~SandboxNamespaces.Network }));
        Assert.Throws<ArgumentException>(() => BwrapRenderer.Arguments(Build(Bwrap, network: true) with { Egress = null }));
        Assert.Throws<ArgumentException>(() => BwrapRenderer.ControlFields(Build(Bwrap, network: true) with { Egress = new EgressEndpoint(null) },
            new BwrapTools("/usr/bin/bwrap", "a", "b")));
        var gvisor = Build(Gvisor);
        Assert.Throws<ArgumentException>(() => OciRenderer.Render(gvisor with { Namespaces = gvisor.Namespaces & ~SandboxNamespaces.Network }));
        Assert.Throws<ArgumentException>(() => OciRenderer.RunscNetwork(Build(Gvisor, network: true) with { Egress = null }));
        Assert.Throws<ArgumentException>(() => DockerRenderer.Keeper(Build(Docker, network: true), "i", "")); // a path: not Docker's
        var docker = Build(Docker);
        Assert.Throws<ArgumentException>(() => DockerRenderer.Keeper(docker with { Namespaces = docker.Namespaces & ~SandboxNamespaces.Network }, "i", ""));
    }

    [Fact]
    public void Renderers_RootOfAnotherBackend_Refuse()
    {
        Assert.Throws<ArgumentException>(() => BwrapRenderer.Arguments(Build(Gvisor)));
        Assert.Throws<ArgumentException>(() => OciRenderer.Render(Build(Docker)));
        Assert.Throws<ArgumentException>(() => DockerRenderer.Keeper(Build(Bwrap), "i", ""));
    }
}
