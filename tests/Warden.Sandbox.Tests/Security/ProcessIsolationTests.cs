using System.Diagnostics;
using System.Globalization;
using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Security;

[Collection(nameof(SandboxCollection))]
public sealed class ProcessIsolationTests(SandboxEngines engines)
{
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_ListProc_SeesOnlySandboxProcesses(string backend)
    {
        var code = $"import os\npids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\nprint(len(pids), max(pids), os.path.exists('/proc/{Environment.ProcessId}'))";

        var result = await engines[backend].Engine.RunAsync(Run.Python(code));

        Run.AssertStatus(ExecutionStatus.Success, result);
        var fields = result.Run.Stdout.Trim().Split(' ');
        Assert.InRange(int.Parse(fields[0], CultureInfo.InvariantCulture), 1, 4);
        Assert.InRange(int.Parse(fields[1], CultureInfo.InvariantCulture), 1, 10);
        Assert.Equal("False", fields[2]);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_KillHostProcess_NoSuchProcess(string backend)
    {
        using var victim = Process.Start(new ProcessStartInfo("/usr/bin/sleep", "300") { UseShellExecute = false })!;
        try
        {
            var code = "import os, sys\npid = int(sys.argv[1])\nfor sig in (0, 9):\n    try:\n        os.kill(pid, sig)\n        print('signalled')\n    except OSError as e:\n        print(e.errno)";

            var result = await engines[backend].Engine.RunAsync(Run.Python(code, [victim.Id.ToString(CultureInfo.InvariantCulture)]));

            Run.AssertStatus(ExecutionStatus.Success, result);
            Assert.Equal("3\n3\n", result.Run.Stdout); // ESRCH: the host pid does not exist in the sandbox's pid namespace
            Assert.False(victim.HasExited, "the host process was killed from inside the sandbox");
        }
        finally
        {
            victim.Kill();
            await victim.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        }
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_Hostname_IsSandboxNotHost(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Python("import socket\nprint(socket.gethostname())"));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.NotEqual(Environment.MachineName + "\n", result.Run.Stdout);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_BackgroundProcessSurvivingRun_KilledWhenRunEnds(string backend)
    {
        var marker = $"linger-{Guid.NewGuid():N}";
        var code = """
            setsid nohup bash -c "exec -a $1-a sleep 1000" >/dev/null 2>&1 &
            ( setsid bash -c "exec -a $1-b sleep 1000" </dev/null >/dev/null 2>&1 & )
            disown -a
            sleep 0.3
            echo started
            """;

        var result = await engines[backend].Engine.RunAsync(Run.Bash(code, [marker]));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("started\n", result.Run.Stdout);
        Assert.Empty(HostProcesses.WithCommandLine(marker));
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_DaemonizedPythonProcess_KilledWhenRunEnds(string backend)
    {
        var marker = $"daemon-{Guid.NewGuid():N}";
        const string code = """
            import os, sys, time
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv('/usr/bin/sleep', [sys.argv[1], '1000'])
                os._exit(0)
            time.sleep(0.3)
            print('parent done')
            """;

        var result = await engines[backend].Engine.RunAsync(Run.Python(code, [marker]));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Empty(HostProcesses.WithCommandLine(marker));
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_WhileRunning_ProcessesRunAsUnprivilegedHostUid(string backend)
    {
        var engine = engines[backend].Engine;
        var marker = $"uidprobe-{Guid.NewGuid():N}";
        if (!BackendTraits.For(backend).ProgramsAreHostProcesses)
        {
            // Stronger than an unprivileged host uid: the program is no host process at all, only a task in the Sentry.
            var guest = engine.RunAsync(Run.Bash("exec -a \"$1\" sleep 4; ", [marker]));
            await Task.Delay(TimeSpan.FromSeconds(2.5), TestContext.Current.CancellationToken);
            Assert.Empty(HostProcesses.WithCommandLine(marker));
            Run.AssertStatus(ExecutionStatus.Success, await guest);
            return;
        }
        var run = engine.RunAsync(Run.Bash("exec -a \"$1\" sleep 3", [marker]));

        var pid = await HostProcesses.WaitForAsync(marker, TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        var uids = HostProcesses.Uids(pid);
        var siblings = HostProcesses.CgroupSiblings(pid).Select(p => (Pid: p, Uids: HostProcesses.Uids(p))).ToList();
        var result = await run;

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.NotNull(uids);
        int floor = BackendTraits.For(backend).HostUidFloor;
        Assert.All(uids, uid => Assert.True(uid >= floor, $"sandboxed program runs as host uid {uid}"));
        // Everything in the sandbox's cgroup (bwrap included) runs unprivileged, not just the program.
        Assert.Contains(siblings, s => s.Pid == pid);
        Assert.All(siblings.Where(s => s.Uids is not null), s => Assert.True(s.Uids!.All(u => u >= floor), $"pid {s.Pid} has uids {string.Join(',', s.Uids!)}"));
    }
}
