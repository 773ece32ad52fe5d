using Warden.Core.Sandboxing;
using Warden.Core.Sandboxing.Bubblewrap;
using Warden.Core.Sandboxing.Docker;
using Warden.Core.Sandboxing.Gvisor;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Tests.Sandboxing.Spec;

public sealed class SandboxSpecBuilderTests
{
    private static readonly SandboxCommand Command = new(["/bin/true"], new Dictionary<string, string> { ["B"] = "2", ["A"] = "1" }, []);

    private static SandboxSpec Build(SandboxBase shared, bool network = false, string workspace = SandboxSpecBuilder.DefaultWorkspace) =>
        SandboxSpecBuilder.Build(shared, new SandboxUser(1000, 1000), TestLimits.Create(network: network), Command,
            new WorkspaceMount("/host/ws", workspace, 1 << 20));

    private static readonly SandboxBase Bwrap = new BwrapLayout("/etc-copy", ["/usr"], [("usr/bin", "/bin")], []).Base();
    private static readonly SandboxBase Gvisor = new GvisorLayout("/rootfs", ["/usr"], []).Base();
    private static readonly SandboxBase Docker = new(new ImageRoot("image"), []);

    [Theory]
    [InlineData(false, "None", true)]
    [InlineData(true, "Host", false)]
    public void Build_Network_PolicyAndNamespaceAgree(bool network, string policy, bool ownNamespace)
    {
        var spec = Build(Bwrap, network);

        Assert.Equal(policy, spec.Network.ToString());
        Assert.Equal(ownNamespace, spec.Namespaces.HasFlag(SandboxNamespaces.Network));
        Assert.Equal(network, spec.Seccomp.AllowInetSockets);
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

    /// <summary>A spec whose network policy and namespaces disagree is refused, never rendered half-way.</summary>
    [Fact]
    public void Renderers_PolicyContradictsNamespaces_Refuse()
    {
        Assert.Throws<ArgumentException>(() => BwrapRenderer.Arguments(Build(Bwrap) with { Network = NetworkPolicy.Host }));
        Assert.Throws<ArgumentException>(() => OciRenderer.Render(Build(Gvisor) with { Network = NetworkPolicy.Host }));
        Assert.Throws<ArgumentException>(() => DockerRenderer.Keeper(Build(Docker, network: true) with { Network = NetworkPolicy.None }, "i", ""));
    }

    [Fact]
    public void Renderers_RootOfAnotherBackend_Refuse()
    {
        Assert.Throws<ArgumentException>(() => BwrapRenderer.Arguments(Build(Gvisor)));
        Assert.Throws<ArgumentException>(() => OciRenderer.Render(Build(Docker)));
        Assert.Throws<ArgumentException>(() => DockerRenderer.Keeper(Build(Bwrap), "i", ""));
    }
}
