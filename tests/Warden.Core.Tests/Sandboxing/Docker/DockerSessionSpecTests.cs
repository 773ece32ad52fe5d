using System.Text.Json.Nodes;
using Warden.Core.Sandboxing;
using Warden.Core.Sandboxing.Docker;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Tests.Sandboxing.Docker;

public sealed class DockerSessionSpecTests
{
    private static SessionSpec Spec(PersistentWorkspace? workspace = null) => new("abc-1",
        new SandboxCommand(["/usr/bin/python3", "-I", "driver.py"], new Dictionary<string, string> { ["PATH"] = "/usr/bin", ["HOME"] = "/home/user" }, []),
        TestLimits.Create(cpuSeconds: 30), new Dictionary<string, byte[]> { ["driver.py"] = [] }, "/opt/warden", workspace);

    private static JsonObject Container(PersistentWorkspace? workspace = null) => DockerSessionSpec.Container(
        "warden-runtime:latest", workspace is null ? "199999:199999" : "4242:4242", workspace is null ? "vol" : null, "/state/run/1-2-3/support/ab",
        "1-2-3", Spec(workspace), "");

    [Fact]
    public void Container_HasTheKeepersHardeningAndLimits()
    {
        var session = Container()["HostConfig"]!;
        var limits = TestLimits.Create(cpuSeconds: 30);
        var keeperSpec = SandboxSpecBuilder.Build(new SandboxBase(new ImageRoot("warden-runtime:latest"), []), new SandboxUser(199999, 199999), limits,
            new SandboxCommand(["/bin/sleep", "infinity"], new Dictionary<string, string>(), []), new WorkspaceMount("vol", SandboxSpecBuilder.DefaultWorkspace, limits.WorkspaceBytes));
        var keeper = DockerRenderer.Keeper(keeperSpec, "1-2-3", "")["HostConfig"]!;

        foreach (var key in new[] { "ReadonlyRootfs", "CapDrop", "SecurityOpt", "NetworkMode", "Init", "IpcMode", "Tmpfs", "Memory", "MemorySwap", "PidsLimit", "NanoCpus" })
            Assert.True(JsonNode.DeepEquals(keeper[key], session[key]), key);
        Assert.True((bool)Container()["NetworkDisabled"]!);
    }

    [Fact]
    public void Container_CpuTime_IsAUlimitOfThePrograms()
    {
        var ulimits = Container()["HostConfig"]!["Ulimits"]!.AsArray();

        var cpu = ulimits.Single(u => (string)u!["Name"]! == "cpu")!;
        Assert.Equal(30, (long)cpu["Soft"]!);
        Assert.Equal(31, (long)cpu["Hard"]!);
        Assert.Contains(ulimits, u => (string)u!["Name"]! == "nofile");
    }

    [Fact]
    public void Container_Command_RunsUnderExactlyWardensEnvironment()
    {
        var body = Container();

        Assert.Equal(["/usr/bin/env", "-i", "--", "HOME=/home/user", "PATH=/usr/bin", "/usr/bin/python3", "-I", "driver.py"],
            body["Cmd"]!.AsArray().Select(a => (string)a!));
        Assert.Empty(body["Env"]!.AsArray());
        Assert.True((bool)body["OpenStdin"]! && (bool)body["AttachStdin"]! && !(bool)body["Tty"]!);
    }

    [Fact]
    public void Container_ProgramWithAnEquals_IsNotTakenForAnAssignment()
    {
        var spec = Spec() with { Command = new SandboxCommand(["a=b"], new Dictionary<string, string>(), []) };

        Assert.Equal(["/usr/bin/env", "-i", "--", "./a=b"], DockerSessionSpec.Command(spec.Command).Select(a => (string)a!));
        Assert.Throws<ArgumentException>(() => DockerSessionSpec.Command(new SandboxCommand(["x"], new Dictionary<string, string> { ["A=B"] = "c" }, [])));
    }

    [Fact]
    public void Container_FreshWorkspace_IsTheVolume_SupportFilesAReadOnlyBind()
    {
        var body = Container();
        var mounts = body["HostConfig"]!["Mounts"]!.AsArray();

        Assert.Equal("199999:199999", (string)body["User"]!);
        Assert.Equal("/sandbox", (string)body["WorkingDir"]!);
        var workspace = mounts.Single(m => (string)m!["Target"]! == "/sandbox")!;
        Assert.Equal("volume", (string)workspace["Type"]!);
        Assert.Equal("vol", (string)workspace["Source"]!);
        var support = mounts.Single(m => (string)m!["Target"]! == "/opt/warden")!;
        Assert.Equal("bind", (string)support["Type"]!);
        Assert.True((bool)support["ReadOnly"]!);
        Assert.Equal(2, mounts.Count);
    }

    [Fact]
    public void Container_PersistentWorkspace_IsAReadWriteBind_AndItsUidRunsTheContainer()
    {
        var body = Container(new PersistentWorkspace("/state/users/k/home", 4242, "/home/user"));
        var mounts = body["HostConfig"]!["Mounts"]!.AsArray();

        Assert.Equal("4242:4242", (string)body["User"]!);
        Assert.Equal("/home/user", (string)body["WorkingDir"]!);
        var home = mounts.Single(m => (string)m!["Target"]! == "/home/user")!;
        Assert.Equal("bind", (string)home["Type"]!);
        Assert.Equal("/state/users/k/home", (string)home["Source"]!);
        Assert.False((bool)home["ReadOnly"]!);
        Assert.DoesNotContain(mounts, m => (string)m!["Type"]! == "volume");
    }

    [Fact]
    public void Container_AndVolume_AreLabelledWithInstanceAndSession()
    {
        var labels = Container()["Labels"]!;
        var volumeLabels = DockerSessionSpec.Volume("v", "1-2-3", "abc-1", 1 << 20, "199999:199999")["Labels"]!;

        foreach (var l in new[] { labels, volumeLabels })
        {
            Assert.Equal("1-2-3", (string)l[DockerRenderer.InstanceLabel]!);
            Assert.Equal("1", (string)l[DockerRenderer.ManagedLabel]!);
            Assert.Equal("session-abc-1", (string)l[DockerSessionSpec.SessionLabel]!);
        }
    }
}
