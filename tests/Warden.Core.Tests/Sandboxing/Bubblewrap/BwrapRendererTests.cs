using Warden.Core.Sandboxing;
using Warden.Core.Sandboxing.Bubblewrap;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Tests.Sandboxing.Bubblewrap;

public sealed class BwrapRendererTests
{
    private const string HostWorkspace = "/var/lib/warden/run/test/ws-0";

    // The options' default read-only paths, as the backend's layout uses them on a merged-/usr host.
    private static readonly BwrapLayout Layout = new(
        "/var/lib/warden/run/test/etc",
        ["/usr"], [("usr/bin", "/bin"), ("usr/lib", "/lib"), ("usr/lib64", "/lib64")],
        []);

    private static readonly SandboxCommand Command = new(
        ["/usr/bin/python3", "/sandbox/main.py", "--bind", "/", "/host"],
        new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin", ["HOME"] = "/sandbox", ["LANG"] = "C.UTF-8" },
        []);

    private static readonly string[] BindOptions = ["--bind", "--ro-bind", "--bind-try", "--ro-bind-try", "--dev-bind", "--dev-bind-try"];

    private static List<string> Build(bool network = false, string? exitReport = null) =>
        BwrapRenderer.Arguments(SandboxSpecBuilder.Build(Layout.Base(), new SandboxUser(BwrapRenderer.SandboxUid, BwrapRenderer.SandboxUid),
            TestLimits.Create(network: network), Command, new WorkspaceMount(HostWorkspace, SandboxSpecBuilder.DefaultWorkspace), exitReport: exitReport,
            egress: network ? new EgressEndpoint("/proc/1/fd/9") : null));

    /// <summary>The options bwrap parses: everything before the "--" that ends them.</summary>
    private static List<string> Options(List<string> args) => args[..args.IndexOf("--")];

    private static IEnumerable<(string Option, string Source, string Destination)> Binds(List<string> args)
    {
        var options = Options(args);
        for (int i = 0; i < options.Count; i++)
            if (BindOptions.Contains(options[i])) yield return (options[i], options[i + 1], options[i + 2]);
    }

    [Fact]
    public void Build_NoNetwork_UnsharesNetwork()
    {
        Assert.Contains("--unshare-net", Options(Build(network: false)));
    }

    /// <summary>Egress: no namespace of bwrap's making; the one warden-exec joined (netns=) is inherited.</summary>
    [Fact]
    public void Build_NetworkGranted_JoinsWardensNamespaceInsteadOfUnsharing()
    {
        Assert.DoesNotContain("--unshare-net", Options(Build(network: true)));
    }

    [Fact]
    public void Build_Always_UnsharesOtherNamespacesAndDropsPrivileges()
    {
        var options = Options(Build());

        foreach (var flag in new[] { "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--disable-userns",
                     "--die-with-parent", "--new-session" })
            Assert.Contains(flag, options);
        int cap = options.IndexOf("--cap-drop");
        Assert.True(cap >= 0);
        Assert.Equal("ALL", options[cap + 1]);
    }

    [Theory]
    [InlineData("/etc")]
    [InlineData("/home")]
    [InlineData("/root")]
    [InlineData("/")]
    [InlineData("/var")]
    [InlineData("/proc")]
    [InlineData("/sys")]
    public void Build_Always_NeverBindsSensitiveHostDirectory(string sensitive)
    {
        foreach (var (_, source, _) in Binds(Build()))
        {
            Assert.NotEqual(sensitive, source);
            if (sensitive is "/home" or "/root") Assert.False(source.StartsWith(sensitive + "/", StringComparison.Ordinal), source);
        }
    }

    [Fact]
    public void Build_Always_BindsShadowNowhere()
    {
        Assert.DoesNotContain(Binds(Build()), b => b.Source.Contains("shadow", StringComparison.Ordinal) || b.Source.Contains("sudoers", StringComparison.Ordinal));
    }

    [Fact]
    public void Build_Always_OnlyWorkspaceIsBoundWritable()
    {
        var writable = Binds(Build()).Where(b => b.Option is "--bind" or "--bind-try" or "--dev-bind" or "--dev-bind-try").ToList();

        var bind = Assert.Single(writable);
        Assert.Equal(HostWorkspace, bind.Source);
        Assert.Equal(SandboxSpecBuilder.DefaultWorkspace, bind.Destination);
    }

    [Fact]
    public void Build_WarmSandbox_BindsOnlyItsExitReportBesidesTheWorkspace_AfterDev()
    {
        const string report = "/var/lib/warden/run/test/exit-warm-0";
        var args = Build(exitReport: report);

        var writable = Binds(args).Where(b => b.Option is "--bind" or "--bind-try" or "--dev-bind" or "--dev-bind-try").ToList();
        Assert.Equal([(report, "/dev/warden-exit"), (HostWorkspace, SandboxSpecBuilder.DefaultWorkspace)], writable.Select(b => (b.Source, b.Destination)).Order());
        // Over the fresh /dev bwrap mounts, not under it.
        var options = Options(args);
        Assert.True(options.IndexOf("--dev") < options.IndexOf(report));
        Assert.DoesNotContain("/dev/warden-exit", Options(Build()));
    }

    [Fact]
    public void Build_Always_PassesSeccompOnFd3()
    {
        var options = Options(Build());

        int i = options.IndexOf("--seccomp");
        Assert.True(i >= 0, "no --seccomp");
        Assert.Equal("3", options[i + 1]);
    }

    [Fact]
    public void Build_Always_ClearsEnvironmentThenSetsOnlyCommandEnvironment()
    {
        var options = Options(Build());

        int clear = options.IndexOf("--clearenv");
        Assert.True(clear >= 0, "no --clearenv");
        var set = new Dictionary<string, string>();
        for (int i = 0; i < options.Count; i++)
        {
            if (options[i] == "--setenv")
            {
                Assert.True(i > clear, "--setenv before --clearenv would be wiped");
                set[options[i + 1]] = options[i + 2];
            }
            Assert.NotEqual("--unsetenv", options[i]);
        }
        Assert.Equal(Command.Environment.OrderBy(kv => kv.Key), set.OrderBy(kv => kv.Key));
    }

    [Fact]
    public void Build_Always_RemountsRootReadOnlyAfterEveryMount()
    {
        var options = Options(Build());
        var mountOptions = BindOptions.Concat(["--tmpfs", "--dir", "--symlink", "--proc", "--dev"]).ToHashSet();

        int remount = options.IndexOf("--remount-ro");
        Assert.True(remount >= 0, "no --remount-ro");
        Assert.Equal("/", options[remount + 1]);
        int lastMount = options.FindLastIndex(mountOptions.Contains);
        Assert.True(lastMount < remount, $"{options[lastMount]} comes after --remount-ro /");
    }

    [Fact]
    public void Build_Always_TmpIsSizedTmpfs()
    {
        var options = Options(Build());

        int tmpfs = options.IndexOf("--tmpfs");
        Assert.Equal("/tmp", options[tmpfs + 1]);
        Assert.Equal("--size", options[tmpfs - 2]);
        Assert.Equal((64L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture), options[tmpfs - 1]);
    }

    [Fact]
    public void Build_Always_StartsInWorkspace()
    {
        var options = Options(Build());

        Assert.Equal(SandboxSpecBuilder.DefaultWorkspace, options[options.IndexOf("--chdir") + 1]);
    }

    [Fact]
    public void Build_Always_ReportsStatusOnFd4()
    {
        var options = Options(Build());

        Assert.Equal("4", options[options.IndexOf("--json-status-fd") + 1]);
    }

    [Fact]
    public void Build_ArgvLooksLikeOptions_PassedAfterSeparatorUnparsed()
    {
        var args = Build();

        Assert.Equal(Command.Argv, args[(args.IndexOf("--") + 1)..]);
        // The user's "--bind / /host" must not reach bwrap as an option.
        Assert.DoesNotContain(Binds(args), b => b.Destination == "/host");
    }

    [Fact]
    public void Build_Always_SandboxUidIsNotRoot()
    {
        var options = Options(Build());

        Assert.NotEqual("0", options[options.IndexOf("--uid") + 1]);
        Assert.NotEqual("0", options[options.IndexOf("--gid") + 1]);
    }

    [Fact]
    public void Rlimits_CpuLimit_SoftIsLimitHardOneMore()
    {
        var rlimits = BwrapRenderer.Rlimits(SandboxSpecBuilder.Rlimits(TestLimits.Create(cpuSeconds: 5))).ToList();

        Assert.Contains("rlimit=cpu:5:6", rlimits);
        Assert.Contains($"rlimit=fsize:{64L << 20}:{64L << 20}", rlimits);
        Assert.Contains("rlimit=nofile:256:256", rlimits);
        Assert.Contains("rlimit=core:0:0", rlimits);
    }

    [Theory]
    [InlineData(0.2, "rlimit=cpu:1:2")]
    [InlineData(1.5, "rlimit=cpu:2:3")]
    public void Rlimits_FractionalCpu_RoundsUpToWholeSeconds(double seconds, string expected)
    {
        Assert.Contains(expected, BwrapRenderer.Rlimits(SandboxSpecBuilder.Rlimits(TestLimits.Create(cpuSeconds: seconds))));
    }
}
