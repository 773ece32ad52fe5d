using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Warden.Core.Sandboxing;
using Warden.Core.Sandboxing.Bubblewrap;
using Warden.Core.Sandboxing.Docker;
using Warden.Core.Sandboxing.Gvisor;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Tests.Sandboxing.Spec;

/// <summary>
/// One request (a session-like sandbox: support files, a warm sandbox's exit report, a fractional CPU limit) built into a
/// spec on each backend's shared layout, and each renderer's output compared with its checked-in rendering in Golden/.
/// A change to what a backend is told shows up here as a line diff, to be reviewed like code.
/// </summary>
public sealed class SandboxSpecGoldenTests
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly SandboxCommand Command = new(
        ["/usr/bin/python3", "/opt/warden/driver.py", "--flag"],
        new Dictionary<string, string> { ["PATH"] = "/usr/local/bin:/usr/bin:/bin", ["HOME"] = "/sandbox", ["LANG"] = "C.UTF-8" },
        []);

    private static readonly IReadOnlyList<ReadOnlyBind> Support = [new("/var/lib/warden/run/i/support/0123456789abcdef", "/opt/warden")];

    private const string EgressNamespace = "/proc/4242/fd/57";

    /// <summary>The CA files of a proxy that terminates TLS for some host: bound and named in the environment.</summary>
    private static readonly Warden.Core.Egress.EgressTrustFiles Trust = new("/var/lib/warden/egress/ca-bundle.pem", "/var/lib/warden/egress/ca.pem");

    private static SandboxSpec Spec(SandboxBase shared, SandboxUser user, WorkspaceMount workspace, string? exitReport, EgressEndpoint? egress = null) =>
        SandboxSpecBuilder.Build(shared, user, TestLimits.Create(cpuSeconds: 2.5, network: egress is not null), Command, workspace, Support, exitReport,
            egress);

    [Theory]
    [InlineData(false, false, "bwrap.control.txt")]
    [InlineData(true, false, "bwrap.egress.control.txt")]
    [InlineData(true, true, "bwrap.egress-tls.control.txt")]
    public void Bwrap_ControlFields_MatchGolden(bool egress, bool trust, string golden)
    {
        var layout = new BwrapLayout("/var/lib/warden/run/i/etc", ["/usr"], [("usr/bin", "/bin"), ("usr/lib", "/lib"), ("usr/lib64", "/lib64")],
            ["/opt/extra"]);
        var spec = Spec(layout.Base(), new SandboxUser(BwrapRenderer.SandboxUid, BwrapRenderer.SandboxUid),
            new WorkspaceMount("/var/lib/warden/run/i/ws-slot-0", SandboxSpecBuilder.DefaultWorkspace), "/var/lib/warden/run/i/exit-slot-0",
            egress ? new EgressEndpoint(EgressNamespace, trust ? Trust : null) : null);

        var fields = BwrapRenderer.ControlFields(spec, new BwrapTools("/usr/bin/bwrap", "/var/lib/warden/run/i/seccomp-nonet.bpf",
            "/var/lib/warden/run/i/seccomp-net.bpf"));

        GoldenFile.AssertMatches(golden, string.Join('\n', fields));
    }

    [Theory]
    [InlineData(false, false, "gvisor.config.json", "none")]
    [InlineData(true, false, "gvisor.egress.config.json", "host")]
    [InlineData(true, true, "gvisor.egress-tls.config.json", "host")]
    public void Gvisor_ConfigJson_MatchesGolden(bool egress, bool trust, string golden, string runscNetwork)
    {
        var layout = new GvisorLayout("/var/lib/warden/run/i/rootfs", ["/usr", "/etc/ssl"],
            [("/var/lib/warden/run/i/etc/passwd", "/etc/passwd"), ("/var/lib/warden/run/i/etc/group", "/etc/group")]);
        var spec = Spec(layout.Base(), new SandboxUser(200007, 200007),
            new WorkspaceMount("/var/lib/warden/run/i/ws-slot-7", SandboxSpecBuilder.DefaultWorkspace), "/var/lib/warden/run/i/bundle-slot-7/exit-report",
            egress ? new EgressEndpoint(EgressNamespace, trust ? Trust : null) : null);

        GoldenFile.AssertMatches(golden, OciRenderer.Render(spec).ToJsonString(Indented));
        Assert.Equal(runscNetwork, OciRenderer.RunscNetwork(spec));
    }

    [Theory]
    [InlineData(false, false, "docker.bodies.json")]
    [InlineData(true, false, "docker.egress.bodies.json")]
    [InlineData(true, true, "docker.egress-tls.bodies.json")]
    public void Docker_Bodies_MatchGolden(bool egress, bool trust, string golden)
    {
        // No exit report: Docker has no warm sandboxes (a stage's end is its exec's end).
        var spec = Spec(new SandboxBase(new ImageRoot("warden-runtime:latest"), []), new SandboxUser(199999, 199999),
            new WorkspaceMount("warden-i-1-ws", SandboxSpecBuilder.DefaultWorkspace, 64L << 20), exitReport: null,
            egress ? new EgressEndpoint(null, trust ? Trust : null) : null);

        var bodies = new JsonObject
        {
            ["volume"] = DockerRenderer.Volume(spec, "i"),
            ["keeper"] = DockerRenderer.Keeper(spec, "i", "runsc"),
            ["exec"] = DockerRenderer.Exec(spec),
        };
        // The seccomp profile travels as a string inside SecurityOpt: shown parsed, so a change to it diffs line by line.
        var security = bodies["keeper"]!["HostConfig"]!["SecurityOpt"]!.AsArray();
        var profile = (string)security[1]!;
        Assert.StartsWith("seccomp=", profile, StringComparison.Ordinal);
        security[1] = JsonNode.Parse(profile["seccomp=".Length..]);

        GoldenFile.AssertMatches(golden, bodies.ToJsonString(Indented));
    }

    [Fact]
    public void GoldenFile_Diff_ShowsOnlyChangedLinesWithContext()
    {
        var diff = GoldenFile.Diff("a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nD\ne\nf\ng\nh\n");

        Assert.Equal("@@ line 2\n  b\n  c\n- d\n+ D\n  e\n  f\n", diff);
    }
}
