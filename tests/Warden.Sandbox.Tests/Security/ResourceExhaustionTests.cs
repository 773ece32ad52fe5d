using System.Globalization;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Security;

/// <summary>Exhausting a resource inside one sandbox is contained there: the host and the next execution are unaffected.</summary>
[Collection(nameof(SandboxCollection))]
public sealed class ResourceExhaustionTests(SandboxEngines engines)
{
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_MemoryExhaustion_ContainedAndNextRunWorks(string backend)
    {
        var engine = engines[backend].Engine;

        var hog = await engine.RunAsync(Run.Python(
            "import os\nchunks = []\nfor _ in range(4):\n    if os.fork() == 0:\n        break\nwhile True:\n    chunks.append(b'x' * (4 << 20))",
            limits: new LimitRequest { MemoryMb = 64, TimeoutSeconds = 20 }));
        var next = await engine.RunAsync(Run.Python("print(len(b'y' * (100 << 20)))"));

        Run.AssertStatus(ExecutionStatus.MemoryLimit, hog);
        Run.AssertStatus(ExecutionStatus.Success, next);
        Assert.Equal($"{100 << 20}\n", next.Run.Stdout);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_ForkUntilFailure_StoppedAtProcessLimit(string backend)
    {
        const string code = """
            import os, time, sys
            n = 0
            try:
                while n < 10000:
                    if os.fork() == 0:
                        time.sleep(30)
                        os._exit(0)
                    n += 1
            except OSError as e:
                print('stopped', n, e.errno, flush=True)
            """;

        var result = await engines[backend].Engine.RunAsync(Run.Python(code, limits: new LimitRequest { MaxProcesses = 16, TimeoutSeconds = 20 }));

        Run.AssertStatus(ExecutionStatus.Success, result);
        var fields = result.Run.Stdout.Trim().Split(' ');
        Assert.Equal("stopped", fields[0]);
        Assert.InRange(int.Parse(fields[1], CultureInfo.InvariantCulture), 1, 15);
        Assert.Equal("11", fields[2]); // EAGAIN
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_ForkBomb_ContainedAndNextRunWorks(string backend)
    {
        var engine = engines[backend].Engine;
        var marker = $"bomb-{Guid.NewGuid():N}";

        var bomb = await engine.RunAsync(Run.Bash("b() { b | b & }; b; sleep 2", [marker], new LimitRequest { MaxProcesses = 32, TimeoutSeconds = 4 }));
        var next = await engine.RunAsync(Run.Bash("echo alive"));

        Assert.NotEqual(ExecutionStatus.SandboxError, bomb.Status);
        Assert.Empty(HostProcesses.WithCommandLine(marker));
        Run.AssertStatus(ExecutionStatus.Success, next);
        Assert.Equal("alive\n", next.Run.Stdout);
        Assert.True(next.Run.ExecutionTimeMs < 5000, $"the run after the fork bomb took {next.Run.ExecutionTimeMs} ms");
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_OpenFilesWithoutClosing_StoppedAtFileLimit(string backend)
    {
        const string code = """
            import os
            fds = []
            try:
                while len(fds) < 100000:
                    fds.append(os.open('/dev/null', os.O_RDONLY))
            except OSError as e:
                print(len(fds) < 300, e.errno)
            """;

        var result = await engines[backend].Engine.RunAsync(Run.Python(code));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("True 24\n", result.Run.Stdout); // EMFILE at RLIMIT_NOFILE (256 by default)
    }
}
