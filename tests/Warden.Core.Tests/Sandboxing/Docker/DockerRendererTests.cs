using System.Text.Json.Nodes;
using Warden.Core.Limits;
using Warden.Core.Sandboxing;
using Warden.Core.Sandboxing.Docker;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Tests.Sandboxing.Docker;

public sealed class DockerRendererTests
{
    private static readonly SandboxCommand Idle = new(["/bin/sleep", "infinity"], new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin" }, []);

    private static SandboxSpec Spec(ResourceLimits limits, SandboxCommand command, string user = "199999:199999") =>
        SandboxSpecBuilder.Build(new SandboxBase(new ImageRoot("warden-runtime:latest"), []), DockerBackend.ConfiguredUser(user), limits, command,
            new WorkspaceMount("vol", SandboxSpecBuilder.DefaultWorkspace, limits.WorkspaceBytes),
            egress: limits.Network ? new EgressEndpoint(null) : null);

    private static JsonObject Keeper(bool network = false, string runtime = "") =>
        DockerRenderer.Keeper(Spec(TestLimits.Create(network: network), Idle), "1-2-3", runtime);

    [Fact]
    public void Keeper_HostConfig_LocksTheContainerDown()
    {
        var host = Keeper()["HostConfig"]!;

        Assert.True((bool)host["ReadonlyRootfs"]!);
        Assert.Equal(["ALL"], host["CapDrop"]!.AsArray().Select(c => (string)c!));
        var security = host["SecurityOpt"]!.AsArray().Select(o => (string)o!).ToList();
        Assert.Contains("no-new-privileges", security);
        var profile = JsonNode.Parse(security.Single(o => o.StartsWith("seccomp=", StringComparison.Ordinal))["seccomp=".Length..])!;
        var denied = profile["syscalls"]!.AsArray().SelectMany(r => r!["names"]!.AsArray().Select(n => (string)n!)).ToHashSet();
        Assert.Contains("ptrace", denied); // Docker's own default profile allows it
        Assert.Contains("io_uring_setup", denied); // and io_uring
        Assert.Contains("clone3", denied); // runc honours errnoRet: ENOSYS makes glibc fall back to clone
        Assert.Equal("none", (string)host["NetworkMode"]!);
        Assert.True((bool)host["Init"]!);
    }

    [Fact]
    public void Keeper_Memory_WithoutSwapAndWithPidsAndCpu()
    {
        var host = Keeper()["HostConfig"]!;

        Assert.Equal(256L << 20, (long)host["Memory"]!);
        Assert.Equal((long)host["Memory"]!, (long)host["MemorySwap"]!);
        Assert.Equal(64, (int)host["PidsLimit"]!);
        Assert.Equal(1_000_000_000, (long)host["NanoCpus"]!);
    }

    [Fact]
    public void Keeper_Workspace_IsTheVolumeNeverABindMount()
    {
        var mount = Keeper()["HostConfig"]!["Mounts"]!.AsArray().Single()!;

        Assert.Equal("volume", (string)mount["Type"]!);
        Assert.Equal("vol", (string)mount["Source"]!);
        Assert.Equal("/sandbox", (string)mount["Target"]!);
    }

    /// <summary>
    /// The daemon creates a volume a mount names when it is missing (a create racing a removal): it must then be the
    /// same size-capped tmpfs, owned and labelled as Warden's own, never a plain, unsized, unreaped directory on disk.
    /// </summary>
    [Fact]
    public void Keeper_WorkspaceMount_CarriesTheVolumesOwnOptions()
    {
        var spec = Spec(TestLimits.Create(), Idle);
        var mount = DockerRenderer.Keeper(spec, "1-2-3", "")["HostConfig"]!["Mounts"]!.AsArray().Single()!;
        var volume = DockerRenderer.Volume(spec, "1-2-3");

        Assert.Equal("local", (string)mount["VolumeOptions"]!["DriverConfig"]!["Name"]!);
        Assert.True(JsonNode.DeepEquals(volume["DriverOpts"], mount["VolumeOptions"]!["DriverConfig"]!["Options"]));
        Assert.True(JsonNode.DeepEquals(volume["Labels"], mount["VolumeOptions"]!["Labels"]));
        Assert.Contains("size=", (string)volume["DriverOpts"]!["o"]!, StringComparison.Ordinal);
    }

    [Fact]
    public void Keeper_Labels_NameTheInstanceForReaping()
    {
        var labels = Keeper()["Labels"]!;

        Assert.Equal("1", (string)labels[DockerRenderer.ManagedLabel]!);
        Assert.Equal("1-2-3", (string)labels[DockerRenderer.InstanceLabel]!);
    }

    [Fact]
    public void Keeper_Runtime_OnlyWhenConfigured()
    {
        Assert.Null(Keeper()["HostConfig"]!["Runtime"]);
        Assert.Equal("runsc", (string)Keeper(runtime: "runsc")["HostConfig"]!["Runtime"]!);
    }

    [Fact]
    public void Keeper_Tmp_IsSizeAndFileCapped()
    {
        var limits = TestLimits.Create();
        var tmp = (string)Keeper()["HostConfig"]!["Tmpfs"]!["/tmp"]!;

        Assert.Contains($"size={limits.TmpBytes}", tmp);
        Assert.Contains($"nr_inodes={limits.TmpBytes / 4096}", tmp);
    }

    [Fact]
    public void Volume_IsSizeCappedTmpfsOwnedByTheProgramUser()
    {
        var options = (string)DockerRenderer.Volume(Spec(TestLimits.Create(), Idle, "199999:199998"), "1-2-3")["DriverOpts"]!["o"]!;

        Assert.Contains($"size={64L << 20}", options);
        Assert.Contains("nr_inodes=16384", options); // one file per 4 KiB: empty files cannot get past the size cap
        Assert.Contains("uid=199999", options);
        Assert.Contains("gid=199998", options);
    }

    [Fact]
    public void Exec_WrapsTheCommandInPerStageRlimitsAndDropsDockersHostname()
    {
        var command = new SandboxCommand(["/usr/bin/python3", "/sandbox/main.py"], new Dictionary<string, string> { ["HOME"] = "/sandbox" }, []);
        var exec = DockerRenderer.Exec(Spec(TestLimits.Create(cpuSeconds: 3), command));
        var argv = exec["Cmd"]!.AsArray().Select(a => (string)a!).ToList();

        Assert.Equal(["/usr/bin/env", "-u", "HOSTNAME", "/usr/bin/prlimit"], argv[..4]);
        Assert.Contains("--cpu=3:4", argv);
        Assert.Equal(["/usr/bin/python3", "/sandbox/main.py"], argv[^2..]);
        Assert.Equal("199999:199999", (string)exec["User"]!);
        Assert.Equal(["HOME=/sandbox"], exec["Env"]!.AsArray().Select(e => (string)e!));
    }

    [Fact]
    public void Keeper_PersistentWorkspaceAndSupportFiles_AreBindsNotVolumes()
    {
        var spec = SandboxSpecBuilder.Build(new SandboxBase(new ImageRoot("warden-runtime:latest"), []), new SandboxUser(300001, 300001),
            TestLimits.Create(), Idle, new WorkspaceMount("/var/lib/warden/homes/u1", "/home/user"), [new ReadOnlyBind("/var/lib/warden/support/ab", "/opt/warden")]);

        var keeper = DockerRenderer.Keeper(spec, "1-2-3", "");
        var mounts = keeper["HostConfig"]!["Mounts"]!.AsArray().Select(m => ((string)m!["Type"]!, (string)m["Source"]!, (string)m["Target"]!, (bool)m["ReadOnly"]!));

        Assert.Equal([("bind", "/var/lib/warden/support/ab", "/opt/warden", true), ("bind", "/var/lib/warden/homes/u1", "/home/user", false)], mounts);
        Assert.Equal("/home/user", (string)keeper["WorkingDir"]!);
        Assert.Equal("300001:300001", (string)keeper["User"]!);
        Assert.Throws<ArgumentException>(() => DockerRenderer.Volume(spec, "1-2-3")); // nothing for Docker to create
    }
}
