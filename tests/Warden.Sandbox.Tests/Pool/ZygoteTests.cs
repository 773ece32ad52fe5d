using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Pool;

/// <summary>
/// The python zygote (bwrap, <c>Warden:Pool:Zygote</c>): its sandboxes are forked from one loaded interpreter that runs
/// as host root, so these try what a program could do with that. The whole conformance and security suite also runs
/// with it (scripts/test.sh, <c>WARDEN_TEST_POOL=zygote</c>).
/// </summary>
public sealed class ZygoteTests
{
    private static async Task<TestEngine> StartAsync()
    {
        var engine = await TestEngine.CreateAsync("bwrap", new Dictionary<string, string?>
        {
            ["Warden:Pool:Enabled"] = "true",
            ["Warden:Pool:Zygote"] = "true",
            ["Warden:Pool:Size"] = "2",
            ["Warden:Pool:Adaptive"] = "false",
            ["Warden:Pool:Targets:python"] = "2",
            ["Warden:Pool:Targets:javascript"] = "0",
            ["Warden:Pool:Targets:bash"] = "0",
        });
        Assert.True(await engine.Engine.Pool.WaitFilledAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken), "the pool did not fill");
        return engine;
    }

    private static async Task<ExecutionResult> RunWarmAsync(TestEngine engine, string code)
    {
        Assert.True(await engine.Engine.Pool.WaitFilledAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken), "the pool did not fill");
        long hits = engine.Engine.Pool.Metrics.Hits;
        var result = await engine.Engine.RunAsync(Run.Python(code));
        Assert.True(engine.Engine.Pool.Metrics.Hits == hits + 1, "the run did not take a warm sandbox");
        return result;
    }

    /// <summary>
    /// The zygotes of <paramref name="engine"/>: children of this process running the zygote program, whose mount
    /// namespace holds the sandbox root template in the instance's run directory (another zygote's namespace does not:
    /// it is private, and holds no other mount under a run directory, see the test below).
    /// </summary>
    private static List<int> Zygotes(TestEngine engine) =>
        HostProcesses.WithCommandLine("_warden_zygote")
            .Where(pid => HostProcesses.Parent(pid) == Environment.ProcessId)
            .Where(pid => File.ReadAllText($"/proc/{pid}/mountinfo").Contains(engine.Instance + "/zygote-python-root ", StringComparison.Ordinal))
            .ToList();

    [Fact]
    public async Task Run_ForkedFromTheZygote_UnprivilegedFreshNamespacesNoHostPaths()
    {
        await using var engine = await StartAsync();
        const string code = """
            import os, sys
            cmdline = open('/proc/self/cmdline', 'rb').read()
            print('zygote' if b'_warden_zygote' in cmdline else 'not from the zygote')
            status = dict(line.split(':', 1) for line in open('/proc/self/status').read().splitlines())
            print(os.getpid(), os.getppid(), os.getuid(), os.getgid(), os.getgroups())
            print(*(status[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp')))
            print(sorted(os.listdir('/proc')).count('1'), len([p for p in os.listdir('/proc') if p.isdigit()]))
            print(os.uname().nodename, sorted(set(os.listdir('/')) & {'home', 'root', 'var', 'run', 'opt', 'srv', 'mnt', 'media', 'boot'}))
            print(sorted(sys.modules) == sorted(set(sys.modules)), 'ctypes' in sys.modules, '_socket' in sys.modules)
            leaked = [fd for fd in os.listdir('/proc/self/fd') if int(fd) > 2]
            print(leaked)
            print(open("/proc/self/mountinfo").read())
            """;

        var result = await RunWarmAsync(engine, code);

        Run.AssertStatus(ExecutionStatus.Success, result);
        var lines = result.Run.Stdout.Split('\n');
        Assert.Equal("zygote", lines[0]);
        var ids = lines[1].Split(' ');
        Assert.Equal("2", ids[0]); // pid 2 in a fresh pid namespace, under its init, as in bwrap
        Assert.Equal("1", ids[1]);
        Assert.NotEqual("0", ids[2]);
        Assert.Equal(ids[2], ids[3]);
        Assert.Equal("[]", string.Join(' ', ids[4..]));
        Assert.Equal("0000000000000000 0000000000000000 0000000000000000 0000000000000000 0000000000000000 1 2", lines[2]);
        Assert.Equal("1 2", lines[3]); // only its init and itself (the listing's own fd is not a process)
        Assert.Equal("sandbox []", lines[4]); // the sandbox root: none of the host's top-level directories but /usr's
        Assert.Equal("True False False", lines[5]); // the zygote's own imports are not the program's modules
        Assert.Equal("['3']", lines[6]); // the listing's own descriptor only: nothing of the zygote's
        var mounts = string.Join('\n', lines[7..]);
        // The zygote's own paths (its template root, its socket) appear nowhere; the bound sources show as under bwrap.
        Assert.DoesNotContain("zygote", mounts, StringComparison.Ordinal);
        Assert.DoesNotContain(".sock", mounts, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Zygote_KeepsNoCopyOfWorkspaceMounts()
    {
        await using var engine = await StartAsync();
        // A cold run's workspace is mounted while the zygote runs; the zygote started with the other slots' mounted.
        var cold = await engine.Engine.RunAsync(Run.Bash("echo cold"));
        Run.AssertStatus(ExecutionStatus.Success, cold);

        var zygote = Assert.Single(Zygotes(engine));
        var mounts = File.ReadAllLines($"/proc/{zygote}/mountinfo").Select(l => l.Split(' ')[4]).ToList();

        // Its namespace started as a copy of the host's: without the detach it would hold every slot's workspace (and
        // whatever was in it) for as long as it runs.
        Assert.DoesNotContain(mounts, m => m.Contains("/ws-", StringComparison.Ordinal));
        Assert.Contains(mounts, m => m.EndsWith("/zygote-python-root", StringComparison.Ordinal));
        Assert.All(mounts, m => Assert.True(m == "/" || m.StartsWith("/proc", StringComparison.Ordinal) || m.StartsWith("/sys", StringComparison.Ordinal)
            || m.StartsWith("/dev", StringComparison.Ordinal) || m.Contains("/zygote-python-root", StringComparison.Ordinal), $"the zygote keeps {m} mounted"));
    }

    [Fact]
    public async Task Sandboxes_FromOneZygote_ShareNoFilesOrProcesses()
    {
        await using var engine = await StartAsync();
        const string first = """
            import os, subprocess
            for path in ('/tmp/left', '/dev/shm/left', '/sandbox/left'):
                open(path, 'w').write('secret')
            subprocess.Popen(['sleep', '30'], start_new_session=True)
            print('written')
            """;
        const string second = """
            import os
            print([p for p in ('/tmp/left', '/dev/shm/left', '/sandbox/left') if os.path.exists(p)])
            print([open(f'/proc/{p}/cmdline').read() for p in os.listdir('/proc') if p.isdigit() and p not in ('1', str(os.getpid()))])
            """;

        var one = await RunWarmAsync(engine, first);
        var two = await RunWarmAsync(engine, second);

        Run.AssertStatus(ExecutionStatus.Success, one);
        Assert.Equal("written\n", one.Run.Stdout);
        Run.AssertStatus(ExecutionStatus.Success, two);
        Assert.Equal("[]\n[]\n", two.Run.Stdout);
    }

    [Fact]
    public async Task Zygote_Killed_RunsStillSucceedAndANewOneServes()
    {
        await using var engine = await StartAsync();
        var before = Zygotes(engine);
        Assert.Single(before);

        System.Diagnostics.Process.GetProcessById(before[0]).Kill();
        var results = new List<ExecutionResult>();
        for (int i = 0; i < 4; i++) results.Add(await engine.Engine.RunAsync(Run.Python("print(6 * 7)")));

        Assert.All(results, r => { Run.AssertStatus(ExecutionStatus.Success, r); Assert.Equal("42\n", r.Run.Stdout); });
        Assert.True(await engine.Engine.Pool.WaitFilledAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken), "the pool did not refill");
        var after = Zygotes(engine);
        Assert.Single(after);
        Assert.NotEqual(before[0], after[0]);
        var served = await RunWarmAsync(engine, "print(b'_warden_zygote' in open('/proc/self/cmdline', 'rb').read())");
        Assert.Equal("True\n", served.Run.Stdout);
    }
}
