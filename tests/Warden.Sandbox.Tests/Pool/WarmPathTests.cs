using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Pool;

/// <summary>
/// A run in a warm sandbox cannot be told from a cold one by the program: same argv, main file, search path, stdin,
/// environment, cwd, exit code and traceback; and every sandbox serves one run only.
/// </summary>
[Collection(nameof(SandboxCollection))]
public sealed class WarmPathTests(WarmPoolFixture pool) : IClassFixture<WarmPoolFixture>
{
    private const string PythonProbe = """
        import os, sys
        print(sys.argv, sys.orig_argv, __file__, __name__, sys.path[0], os.getcwd())
        print(sorted(os.environ.items()))
        print(list(globals()), type(__loader__).__name__, __spec__, __package__)
        print(sorted(sys.modules) == sorted(set(sys.modules)), 'runpy' in sys.modules, 'json' in sys.modules)
        print(repr(sys.stdin.read()))
        print(sys.flags.ignore_environment, sys.flags.no_user_site, sys.flags.dont_write_bytecode)
        import resource
        print(resource.getrlimit(resource.RLIMIT_CPU), resource.getrlimit(resource.RLIMIT_NOFILE), resource.getrlimit(resource.RLIMIT_FSIZE))
        print(os.listdir('/proc/self/fd'))
        sys.stdout.write('before the error\n')
        def fail():
            raise ValueError('boom')
        fail()
        """;

    private const string NodeProbe = """
        const fs = require('fs');
        // Before anything touches process.stdout: the stdio descriptors' flags (O_NONBLOCK) as the program finds them.
        for (const fd of [0, 1, 2]) fs.writeSync(1, fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n')[1] + '\n');
        console.log(JSON.stringify([process.argv, process.execArgv, __filename, __dirname, require.main === module, process.cwd()]));
        console.log(JSON.stringify(Object.entries(process.env).sort()));
        console.log(JSON.stringify([typeof globalThis.require, typeof globalThis.module, typeof globalThis.__filename, process._eval]));
        console.log(JSON.stringify(fs.readFileSync(0, 'utf8')));
        console.log(JSON.stringify(fs.readdirSync('/proc/self/fd').length));
        process.exitCode = 7;
        """;

    private const string BashProbe = """
        echo "$0" "$#" "$@"
        pwd
        env | sort
        echo "$-" "$SHLVL"
        set -o | tr -s ' \t' ' '
        shopt | tr -s ' \t' ' '
        ls /proc/self/fd | wc -l
        cat
        exit 5
        """;

    [Theory]
    [MemberData(nameof(Backends.WithWarmPool), MemberType = typeof(Backends))]
    public async Task Python_WarmAndCold_SameObservableRun(string backend) =>
        await AssertSameAsync(backend, Run.Python(PythonProbe, args: ["a b", "-c", "ü"], stdin: "line 1\nline 2"));

    [Theory]
    [MemberData(nameof(Backends.WithWarmPool), MemberType = typeof(Backends))]
    public async Task Python_SyntaxErrorAndSysExit_SameAsCold(string backend)
    {
        await AssertSameAsync(backend, Run.Python("print('x')\n1 +\n"));
        await AssertSameAsync(backend, Run.Python("import sys\nprint('out')\nsys.exit('bye')"));
        await AssertSameAsync(backend, Run.Python("import atexit\natexit.register(lambda: print('at exit'))\nraise SystemExit(3)"));
        await AssertSameAsync(backend, Run.Python("raise KeyError('k') from OSError(2, 'inner')"));
    }

    /// <summary>
    /// The warm stub ends the process itself instead of the interpreter's finalization (see LanguageStubs): everything a
    /// program can see of the end of a run must stay as in a cold run, and where it cannot tell, the interpreter ends it.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.WithWarmPool), MemberType = typeof(Backends))]
    public async Task Python_EndOfRun_SameAsCold(string backend)
    {
        // Non-daemon threads finish, atexit runs after them, __del__ of globals and cyclic garbage run, unclosed files
        // are flushed (read back by a second run of the same workspace is impossible: a later atexit reads it instead).
        await AssertSameAsync(backend, Run.Python("""
            import atexit, threading, time, sys
            class Noisy:
                def __init__(self, name): self.name = name
                def __del__(self): print('del', self.name, flush=True)
            kept = Noisy('global')
            cycle = Noisy('cycle'); cycle.me = cycle; del cycle
            _private = Noisy('private')
            log = open('log.txt', 'w'); log.write('unclosed')
            def late():
                time.sleep(0.2); print('thread done', flush=True)
            threading.Thread(target=late).start()
            atexit.register(lambda: print('atexit', threading.active_count(), open('log.txt').read() == ''))
            print('main done')
            """));
        await AssertSameAsync(backend, Run.Python("import sys\nprint('x')\nsys.exit(7)"));
        await AssertSameAsync(backend, Run.Python("import sys\nsys.exit(None)"));
        await AssertSameAsync(backend, Run.Python("import sys\nsys.exit(2**40)"));
        await AssertSameAsync(backend, Run.Python("print('before')\nraise KeyboardInterrupt"));
        // C-level stdio is only flushed by the interpreter's exit(): with ctypes loaded the interpreter ends the run.
        await AssertSameAsync(backend, Run.Python("import ctypes\nlibc = ctypes.CDLL(None)\nlibc.printf(b'from C\\n')\nprint('from python')"));
        // A flush that fails at exit (stdout closed under the interpreter) gives the interpreter's status 120.
        await AssertSameAsync(backend, Run.Python("import os, sys\nprint('lost', end='')\nos.close(1)"));
    }

    /// <summary>
    /// With no ready sandbox for the language (here: a target of 0), a run starts its stub sandbox on demand instead of
    /// running cold: counted as a miss and as on-demand, and indistinguishable from a cold run, limits included.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.WithWarmPool), MemberType = typeof(Backends))]
    public async Task Python_PoolEmpty_StartsStubOnDemand_SameAsCold(string backend)
    {
        pool.RequireWarm(backend);
        var engine = pool.OnDemand(backend).Engine;
        Assert.True(engine.Pool.Running);
        long hits = engine.Pool.Metrics.Hits, onDemand = engine.Pool.Metrics.OnDemand;
        var request = Run.Python(PythonProbe, args: ["a b"], stdin: "in");
        var started = await engine.RunAsync(request);
        AssertSame(await pool.Cold(backend).Engine.RunAsync(request), started);
        Assert.Equal(onDemand + 1, engine.Pool.Metrics.OnDemand);
        Assert.Equal(hits, engine.Pool.Metrics.Hits);

        var memory = await engine.RunAsync(Run.Python("x = bytearray(400 << 20)\nprint(len(x))", limits: new LimitRequest { MemoryMb = 96 }));
        Run.AssertStatus(ExecutionStatus.MemoryLimit, memory);
        var timeout = await engine.RunAsync(Run.Python("import time\ntime.sleep(30)", limits: new LimitRequest { TimeoutSeconds = 1, CpuTimeSeconds = 10 }));
        Run.AssertStatus(ExecutionStatus.Timeout, timeout);
        Assert.Equal(onDemand + 3, engine.Pool.Metrics.OnDemand);
    }

    /// <summary>
    /// More output than the pipes hold, on both streams, then a non-zero exit: on gVisor the run ends on the stub's exit
    /// report while runsc still holds the pipes, so the output must be taken from them without waiting for their end.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.WithWarmPool), MemberType = typeof(Backends))]
    public async Task Python_OutputBeyondThePipes_SameAsCold(string backend)
    {
        const string code = """
            import sys
            for i in range(20000):
                print(i, 'x' * 20)
                if i % 1000 == 0:
                    sys.stderr.write('e' * 5000 + '\n')
            print('end')
            sys.exit(3)
            """;
        var warm = await pool.RunWarmAsync(backend, Run.Python(code));
        Assert.EndsWith("19999 xxxxxxxxxxxxxxxxxxxx\nend\n", warm.Run.Stdout, StringComparison.Ordinal);
        Assert.Equal(20 * 5001, warm.Run.Stderr.Length);
        AssertSame(await pool.Cold(backend).Engine.RunAsync(Run.Python(code)), warm);
    }

    /// <summary>
    /// The exit report is writable by the program (it runs as the stub's user): writing it is the program ending itself,
    /// like _exit. The run ends there with that status and the output so far; the sandbox, whose program still sleeps
    /// (and a child it started), is torn down after a short grace instead of being waited for.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.WithExitReport), MemberType = typeof(Backends))]
    public async Task ExitReport_WrittenByTheProgram_EndsRunAndSandbox(string backend)
    {
        const string code = """
            import os, subprocess, time
            subprocess.Popen(['sleep', '100'])
            report = os.open('/dev/warden-exit', os.O_WRONLY)
            print('reporting', flush=True)
            os.write(report, b'7\n')
            time.sleep(30)
            print('never')
            """;
        var result = await pool.RunWarmAsync(backend, Run.Python(code));
        Assert.Equal(7, result.Run.ExitCode);
        Assert.Null(result.Run.Signal);
        Assert.Equal("reporting\n", result.Run.Stdout);
        Assert.InRange(result.Run.ExecutionTimeMs, 0, 10_000);

        // Recycled well within the program's 30 s sleep: the grace (gVisor 10 s, bwrap 1 s) ran out and the sandbox was killed.
        var engine = pool.Warm(backend).Engine;
        var deadline = DateTime.UtcNow.AddSeconds(22);
        while (engine.Backend.Status().Slots?.Recycling is not (null or 0) && DateTime.UtcNow < deadline)
            await Task.Delay(50, TestContext.Current.CancellationToken);
        Assert.Equal(0, engine.Backend.Status().Slots?.Recycling ?? 0);
        var next = await pool.RunWarmAsync(backend, Run.Python("print(1)"));
        Assert.Equal("1\n", next.Run.Stdout);
    }

    /// <summary>
    /// The stubs end a run on the exit report only where the sandbox offers the FIFO and nothing but the sandbox's init
    /// and the program runs in it. Both must hold for a plain program, or every run would silently end the slow way;
    /// a cold sandbox has no FIFO.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.WithExitReport), MemberType = typeof(Backends))]
    public async Task ExitReport_OfferedToWarmSandboxes_WhereNothingElseRuns(string backend)
    {
        const string code = """
            import os, stat
            path = '/dev/warden-exit'
            print(os.path.exists(path) and stat.S_ISFIFO(os.stat(path).st_mode), os.access(path, os.W_OK))
            print([p for p in os.listdir('/proc') if p.isdigit() and p not in ('1', str(os.getpid()))])
            """;
        var warm = await pool.RunWarmAsync(backend, Run.Python(code));
        Assert.Equal("True True\n[]\n", warm.Run.Stdout);
        var cold = await pool.Cold(backend).Engine.RunAsync(Run.Python(code));
        Assert.Equal("False False\n[]\n", cold.Run.Stdout);
    }

    [Theory]
    [MemberData(nameof(Backends.WithWarmPool), MemberType = typeof(Backends))]
    public async Task JavaScript_WarmAndCold_SameObservableRun(string backend) =>
        await AssertSameAsync(backend, Run.Code("javascript", NodeProbe, args: ["x", "--y"], stdin: "in"));

    /// <summary>
    /// The ways a node program ends, warm against cold. On gVisor the stub reports the status from the final 'exit'
    /// emission: after every listener, never for an 'exit' the program emits itself, and not after an uncaught exception
    /// or rejection (node prints the trace after that emission, which a report there would lose).
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.WithWarmPool), MemberType = typeof(Backends))]
    public async Task JavaScript_Endings_SameAsCold(string backend)
    {
        string[] programs =
        [
            "console.log('a'); throw new Error('boom');",
            "console.log('a'); Promise.reject(new Error('rejected'));",
            "process.on('exit', c => { console.log('bye', c); process.exitCode = 5; }); console.log('a'); process.exit(3);",
            "process.on('uncaughtException', e => { console.log('caught', e.message); process.exitCode = 4; }); setTimeout(() => { throw new Error('x'); }, 1);",
            "process.emit('exit', 9); console.log('still running'); setTimeout(() => { process.exitCode = 2; }, 50);",
            "process.stdout.write('x'.repeat(300000)); process.stderr.write('e'.repeat(70000)); process.exitCode = 300;",
        ];
        foreach (var code in programs)
        {
            var request = Run.Code("javascript", code);
            var warm = await pool.RunWarmAsync(backend, request);
            var cold = await pool.Cold(backend).Engine.RunAsync(request);
            Assert.True(cold.Status == warm.Status && cold.Run.ExitCode == warm.Run.ExitCode && cold.Run.Stdout == warm.Run.Stdout,
                $"{code}: cold {cold.Status} {cold.Run.ExitCode} {cold.Run.Stdout.Length} bytes, warm {warm.Status} {warm.Run.ExitCode} {warm.Run.Stdout.Length} bytes");
            // The bottom frames of a trace differ by design (see LanguageStubs): compare through the program's own frame.
            Assert.Equal(ThroughFirstFrame(cold.Run.Stderr), ThroughFirstFrame(warm.Run.Stderr));
        }

        // Node reads the stack to print it only after the 'exit' emission: a slow one proves the run did not end before.
        // (Only the stack is compared: node prints the source line above it for a cold run's unwritable stack only.)
        var slow = Run.Code("javascript",
            "const e = new Error('slow'); Object.defineProperty(e, 'stack', { get() { const t = Date.now() + 300; while (Date.now() < t); return 'Error: slow\\n    at main'; } }); throw e;");
        var slowWarm = await pool.RunWarmAsync(backend, slow);
        var slowCold = await pool.Cold(backend).Engine.RunAsync(slow);
        Assert.Equal(slowCold.Run.ExitCode, slowWarm.Run.ExitCode);
        Assert.Contains("Error: slow\n    at main", slowCold.Run.Stderr, StringComparison.Ordinal);
        Assert.Contains("Error: slow\n    at main", slowWarm.Run.Stderr, StringComparison.Ordinal);

        static string ThroughFirstFrame(string stderr)
        {
            int frame = stderr.IndexOf("\n    at ", StringComparison.Ordinal);
            int end = frame < 0 ? -1 : stderr.IndexOf('\n', frame + 1);
            return end < 0 ? stderr : stderr[..end];
        }
    }

    [Theory]
    [MemberData(nameof(Backends.WithWarmPool), MemberType = typeof(Backends))]
    public async Task Bash_WarmAndCold_SameObservableRun(string backend) =>
        await AssertSameAsync(backend, Run.Code("bash", BashProbe, args: ["one", "two words"], stdin: "piped"));

    [Theory]
    [MemberData(nameof(Backends.WithWarmPool), MemberType = typeof(Backends))]
    public async Task WarmSandbox_UsedOnce_NothingCarriesOver(string backend)
    {
        const string code = """
            import os, subprocess
            print(sorted(os.listdir('.')), sorted(os.listdir('/tmp')), os.getpid())
            open('left.txt', 'w').write('x'); open('/tmp/left.txt', 'w').write('x')
            subprocess.Popen(['sleep', '100'], start_new_session=True)
            """;
        var first = await pool.RunWarmAsync(backend, Run.Python(code));
        var second = await pool.RunWarmAsync(backend, Run.Python(code));
        Run.AssertStatus(ExecutionStatus.Success, first);
        Run.AssertStatus(ExecutionStatus.Success, second);
        Assert.StartsWith("['main.py'] []", first.Run.Stdout, StringComparison.Ordinal);
        Assert.StartsWith("['main.py'] []", second.Run.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Backends.WithWarmPool), MemberType = typeof(Backends))]
    public async Task WarmRun_RequestLimits_SameStatusesAsCold(string backend)
    {
        var memory = await pool.RunWarmAsync(backend, Run.Python("x = bytearray(400 << 20)\nprint(len(x))", limits: new LimitRequest { MemoryMb = 96 }));
        Run.AssertStatus(ExecutionStatus.MemoryLimit, memory);
        // The CPU time stays the default's (10 s) so the profile matches; the wall clock is the request's.
        var timeout = await pool.RunWarmAsync(backend, Run.Python("import time\ntime.sleep(30)", limits: new LimitRequest { TimeoutSeconds = 1, CpuTimeSeconds = 10 }));
        Run.AssertStatus(ExecutionStatus.Timeout, timeout);
        var output = await pool.RunWarmAsync(backend, Run.Python("while True: print('x' * 1000)", limits: new LimitRequest { MaxOutputBytes = 10000 }));
        Run.AssertStatus(ExecutionStatus.OutputLimit, output);
        var ok = await pool.RunWarmAsync(backend, Run.Python("print(1)"));
        Run.AssertStatus(ExecutionStatus.Success, ok);
        Assert.Equal("1\n", ok.Run.Stdout);
    }

    /// <summary>
    /// Warm sandboxes load their interpreter at the smallest CPU weight, so refilling the pool never slows a program that
    /// runs for a request; the one taken for a request runs at the default weight.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.WithWarmPool), MemberType = typeof(Backends))]
    public async Task IdleWarmSandboxes_LowestCpuWeight_TakenOneDefault(string backend)
    {
        pool.RequireWarm(backend);
        var ct = TestContext.Current.CancellationToken;
        await pool.Warm(backend).SettleAsync();
        await pool.Cold(backend).SettleAsync();
        // A warm sandbox's host processes name its slot: bwrap's workspace bind (ws-warm-N), runsc's bundle (bundle-warm-N).
        // Not just "-warm-": the test host's own command line may contain that (the CI suite "…-warm-pool").
        static List<(int Pid, int Weight)> Weights() => HostProcesses.WithCommandLine("/ws-warm-").Concat(HostProcesses.WithCommandLine("/bundle-warm-"))
            .Distinct().Select(pid => (pid, HostProcesses.CpuWeight(pid))).Where(p => p.Item2 is not null).Select(p => (p.pid, p.Item2!.Value)).ToList();
        var idle = Weights();
        Assert.NotEmpty(idle);
        Assert.All(idle, p => Assert.True(p.Weight <= 10, $"an idle warm sandbox runs at CPU weight {p.Weight}: {HostProcesses.CommandLine(p.Pid)}"));

        var run = pool.RunWarmAsync(backend, Run.Python("import time\ntime.sleep(2)"));
        var seen = new List<int>();
        for (var deadline = DateTime.UtcNow.AddSeconds(10); !run.IsCompleted && DateTime.UtcNow < deadline; await Task.Delay(50, ct))
            seen.AddRange(Weights().Select(p => p.Weight).Where(weight => weight > 10));
        Run.AssertStatus(ExecutionStatus.Success, await run);
        Assert.Contains(1024, seen);
        Assert.All(seen, weight => Assert.Equal(1024, weight));
    }

    [Theory]
    [MemberData(nameof(Backends.WithWarmPool), MemberType = typeof(Backends))]
    public async Task OwnCpuTime_RunsCold_KilledAtTheLimit(string backend)
    {
        // RLIMIT_CPU is set before bwrap starts (see WarmProfile): another CPU time is another profile, served cold.
        pool.RequireWarm(backend);
        var engine = pool.Warm(backend).Engine;
        long profileMisses = engine.Pool.Metrics.MissesByReason.GetValueOrDefault("profile");
        var cpu = await engine.RunAsync(Run.Python("while True: pass", limits: new LimitRequest { CpuTimeSeconds = 1, TimeoutSeconds = 10 }));
        Run.AssertStatus(ExecutionStatus.Killed, cpu);
        Assert.InRange(cpu.Run.ExecutionTimeMs, 500, 6000);
        Assert.Equal(profileMisses + 1, engine.Pool.Metrics.MissesByReason.GetValueOrDefault("profile"));
    }

    private async Task AssertSameAsync(string backend, ExecutionRequest request)
    {
        var warm = await pool.RunWarmAsync(backend, request);
        AssertSame(await pool.Cold(backend).Engine.RunAsync(request), warm);
    }

    private static void AssertSame(ExecutionResult cold, ExecutionResult warm)
    {
        Assert.Equal(cold.Status, warm.Status);
        Assert.Equal(cold.Run.ExitCode, warm.Run.ExitCode);
        Assert.Equal(cold.Run.Signal, warm.Run.Signal);
        Assert.Equal(cold.Run.Stdout, warm.Run.Stdout);
        Assert.Equal(cold.Run.Stderr, warm.Run.Stderr);
    }
}
