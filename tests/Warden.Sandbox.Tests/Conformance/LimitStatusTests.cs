using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Conformance;

/// <summary>Each limit status, triggered by a program that really breaks that limit.</summary>
[Collection(nameof(SandboxCollection))]
public sealed class LimitStatusTests(SandboxEngines engines)
{
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_SleepBeyondTimeout_TimeoutNearTheLimit(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Python(
            "import time\nprint('started', flush=True)\ntime.sleep(30)\nprint('finished')", limits: new LimitRequest { TimeoutSeconds = 1.5 }));

        Run.AssertStatus(ExecutionStatus.Timeout, result);
        Assert.Equal("started\n", result.Run.Stdout);
        Assert.InRange(result.Run.ExecutionTimeMs, 1500, 3500);
        Assert.Contains("1.5 s", result.Run.Error, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_MemoryHog_MemoryLimit(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Python(
            "chunks = []\nwhile True:\n    chunks.append(b'x' * (8 << 20))", limits: new LimitRequest { MemoryMb = 64, TimeoutSeconds = 20 }));

        Run.AssertStatus(ExecutionStatus.MemoryLimit, result);
        Assert.Contains("64 MB", result.Run.Error, StringComparison.Ordinal);
        Assert.InRange(result.Run.MemoryUsedMb, 32, 64.5 + BackendTraits.For(backend).MemoryOverheadMb);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_StdoutFlood_OutputLimitCutAtCap(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Python(
            "import sys\nwhile True:\n    sys.stdout.write('x' * 1000)", limits: new LimitRequest { MaxOutputBytes = 4096 }));

        Run.AssertStatus(ExecutionStatus.OutputLimit, result);
        Assert.Equal(4096, result.Run.Stdout.Length);
        Assert.True(result.Run.StdoutTruncated);
        Assert.False(result.Run.StderrTruncated);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_StderrFlood_StderrTruncated(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Python(
            "import sys\nprint('fine')\nsys.stdout.flush()\nwhile True:\n    sys.stderr.write('e' * 1000)",
            limits: new LimitRequest { MaxOutputBytes = 4096 }));

        Run.AssertStatus(ExecutionStatus.OutputLimit, result);
        Assert.Equal(4096, result.Run.Stderr.Length);
        Assert.True(result.Run.StderrTruncated);
        Assert.False(result.Run.StdoutTruncated);
        Assert.Equal("fine\n", result.Run.Stdout);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_OutputExactlyAtCap_SuccessNotTruncated(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Python(
            "import sys\nsys.stdout.write('x' * 4096)", limits: new LimitRequest { MaxOutputBytes = 4096 }));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal(4096, result.Run.Stdout.Length);
        Assert.False(result.Run.StdoutTruncated);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_BusyLoopWithCpuLimit_KilledMentioningCpu(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Python(
            "while True:\n    pass", limits: new LimitRequest { CpuTimeSeconds = 1, TimeoutSeconds = 10 }));

        Run.AssertStatus(ExecutionStatus.Killed, result);
        Assert.Contains("CPU", result.Run.Error, StringComparison.Ordinal);
        // The CPU limit, not the 10 s wall clock, ended it.
        Assert.InRange(result.Run.ExecutionTimeMs, 500, 6000);
        Assert.InRange(result.Run.CpuTimeMs, 800, 3500);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_CallerCancelsMidRun_Killed(string backend)
    {
        var engine = engines[backend].Engine;
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cancel.CancelAfter(TimeSpan.FromSeconds(1.5));

        var result = await engine.RunAsync(Run.Python("import time\ntime.sleep(30)", limits: new LimitRequest { TimeoutSeconds = 20 }),
            cancel.Token);

        Run.AssertStatus(ExecutionStatus.Killed, result);
        Assert.Contains("cancelled", result.Run.Error, StringComparison.Ordinal);
        Assert.InRange(result.Run.ExecutionTimeMs, 1000, 10000);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_AfterEachLimitBreach_NextRunSucceeds(string backend)
    {
        var engine = engines[backend].Engine;
        await engine.RunAsync(Run.Python("chunks = []\nwhile True:\n    chunks.append(b'x' * (8 << 20))", limits: new LimitRequest { MemoryMb = 64 }));
        await engine.RunAsync(Run.Python("while True:\n    pass", limits: new LimitRequest { CpuTimeSeconds = 1 }));

        var result = await engine.RunAsync(Run.Python("print('still fine')"));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("still fine\n", result.Run.Stdout);
    }
}
