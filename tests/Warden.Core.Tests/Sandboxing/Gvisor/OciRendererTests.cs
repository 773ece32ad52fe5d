using System.Text.Json.Nodes;
using Warden.Core.Sandboxing;
using Warden.Core.Sandboxing.Gvisor;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Tests.Sandboxing.Gvisor;

public sealed class OciRendererTests
{
    private static readonly GvisorLayout Layout = new("/var/lib/warden/run/x/rootfs", ["/usr", "/etc/ssl"],
        [("/var/lib/warden/run/x/etc/passwd", "/etc/passwd")]);

    private static readonly SandboxCommand Command = new(["/usr/bin/python3", "/sandbox/main.py"],
        new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin", ["HOME"] = "/sandbox" }, []);

    private static JsonObject Build(bool network = false, string? exitReport = null) =>
        OciRenderer.Render(SandboxSpecBuilder.Build(Layout.Base(), new SandboxUser(200007, 200007), TestLimits.Create(network: network), Command,
            new WorkspaceMount("/var/lib/warden/run/x/ws-slot-0", SandboxSpecBuilder.DefaultWorkspace), exitReport: exitReport,
            egress: network ? new EgressEndpoint("/proc/1/fd/9") : null));

    [Fact]
    public void Build_Process_UnprivilegedWithoutCapabilitiesAndNoNewPrivileges()
    {
        var process = Build()["process"]!;

        Assert.Equal(200007, (int)process["user"]!["uid"]!);
        Assert.Equal(200007, (int)process["user"]!["gid"]!);
        Assert.True((bool)process["noNewPrivileges"]!);
        foreach (var set in new[] { "bounding", "effective", "inheritable", "permitted", "ambient" })
            Assert.Empty(process["capabilities"]![set]!.AsArray());
        Assert.Equal(["HOME=/sandbox", "PATH=/usr/bin:/bin"], process["env"]!.AsArray().Select(e => (string)e!));
    }

    [Fact]
    public void Build_Root_ReadOnlyWithOnlyTheLayoutsBindsPlusWorkspaceAndTmp()
    {
        var spec = Build();
        Assert.True((bool)spec["root"]!["readonly"]!);
        var mounts = spec["mounts"]!.AsArray().ToDictionary(m => (string)m!["destination"]!, m => m!);

        Assert.Equal(["/dev", "/etc/passwd", "/etc/ssl", "/proc", "/sandbox", "/tmp", "/usr"], mounts.Keys.Order());
        Assert.Contains("ro", mounts["/usr"]["options"]!.AsArray().Select(o => (string)o!));
        Assert.Contains("rw", mounts["/sandbox"]["options"]!.AsArray().Select(o => (string)o!));
        Assert.Equal("/var/lib/warden/run/x/ws-slot-0", (string)mounts["/sandbox"]["source"]!);
        Assert.Contains("size=65536k", mounts["/tmp"]["options"]!.AsArray().Select(o => (string)o!));
    }

    [Fact]
    public void Build_Session_WorkspaceAtItsPath_OwnIdentityFiles_SupportFilesReadOnly()
    {
        // A session's own identity files in place of the layout's, its home at its path, its support files read-only.
        var shared = Layout.Base([("/var/lib/warden/run/x/bundle-session-a/etc/passwd", "/etc/passwd"), ("/var/lib/warden/run/x/bundle-session-a/etc/group", "/etc/group")]);
        var spec = OciRenderer.Render(SandboxSpecBuilder.Build(shared, new SandboxUser(400123, 400123), TestLimits.Create(), Command,
            new WorkspaceMount("/var/lib/warden/users/u/home", "/home/user"), [new ReadOnlyBind("/var/lib/warden/run/x/support/0123", "/opt/warden")]));
        var mounts = spec["mounts"]!.AsArray().ToDictionary(m => (string)m!["destination"]!, m => m!);

        Assert.Equal(["/dev", "/etc/group", "/etc/passwd", "/etc/ssl", "/home/user", "/opt/warden", "/proc", "/tmp", "/usr"], mounts.Keys.Order());
        Assert.Equal("/var/lib/warden/run/x/bundle-session-a/etc/passwd", (string)mounts["/etc/passwd"]["source"]!); // not the layout's
        Assert.Equal("/var/lib/warden/users/u/home", (string)mounts["/home/user"]["source"]!);
        Assert.Contains("rw", mounts["/home/user"]["options"]!.AsArray().Select(o => (string)o!));
        Assert.Contains("ro", mounts["/opt/warden"]["options"]!.AsArray().Select(o => (string)o!));
        Assert.Equal("/home/user", (string)spec["process"]!["cwd"]!);
        Assert.Equal(400123, (int)spec["process"]!["user"]!["uid"]!);
    }

    [Fact]
    public void Build_ExitReport_BoundAtItsSandboxPathOnlyWhenGiven()
    {
        var mounts = Build(exitReport: "/var/lib/warden/run/x/bundle-warm-0/exit-report")
            ["mounts"]!.AsArray().ToDictionary(m => (string)m!["destination"]!, m => m!);

        var report = mounts["/dev/warden-exit"];
        Assert.Equal("/var/lib/warden/run/x/bundle-warm-0/exit-report", (string)report["source"]!);
        Assert.Contains("noexec", report["options"]!.AsArray().Select(o => (string)o!));
        Assert.DoesNotContain(Build()["mounts"]!.AsArray(), m => (string)m!["destination"]! == "/dev/warden-exit");
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public void Build_NetworkNamespace_UnlessNetworkGranted(bool network, bool expectNetNamespace)
    {
        var namespaces = Build(network)["linux"]!["namespaces"]!.AsArray().Select(n => (string)n!["type"]!).ToList();

        Assert.Equal(expectNetNamespace, namespaces.Contains("network"));
        Assert.Contains("pid", namespaces);
        Assert.Contains("mount", namespaces);
    }

    [Fact]
    public void Build_Rlimits_IncludeCpuFileSizeAndProcessCount()
    {
        var rlimits = Build()["process"]!["rlimits"]!.AsArray().ToDictionary(r => (string)r!["type"]!, r => (long)r!["soft"]!);

        Assert.Equal(10, rlimits["RLIMIT_CPU"]);
        Assert.Equal(64L << 20, rlimits["RLIMIT_FSIZE"]);
        Assert.Equal(64, rlimits["RLIMIT_NPROC"]);
        Assert.Equal(0, rlimits["RLIMIT_CORE"]);
    }

    [Fact]
    public void Build_Seccomp_DeniesPtraceButHasNoClone3RuleAndAllowsSyslog()
    {
        // gVisor ignores errnoRet: a clone3 rule would return EPERM and stop glibc's fallback to clone (no threads).
        var rules = Build()["linux"]!["seccomp"]!["syscalls"]!.AsArray();
        var names = rules.SelectMany(r => r!["names"]!.AsArray().Select(n => (string)n!)).ToHashSet();

        Assert.Contains("ptrace", names);
        Assert.Contains("io_uring_setup", names);
        Assert.DoesNotContain("clone3", names);
        Assert.DoesNotContain("syslog", names);
    }
}
