using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Conformance;

[Collection(nameof(SandboxCollection))]
public sealed class AccountingTests(SandboxEngines engines)
{
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_BusyProgram_ReportsPlausibleCpuAndMemory(string backend)
    {
        // ~0.6 s of CPU and ~60 MB that is really written (b'x' * n touches every page).
        const string code = """
            import time
            block = b'x' * (60 << 20)
            start = time.process_time()
            while time.process_time() - start < 0.6:
                pass
            print(len(block))
            """;

        var result = await engines[backend].Engine.RunAsync(Run.Python(code));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.InRange(result.Run.CpuTimeMs, 500, 5000);
        Assert.InRange(result.Run.MemoryUsedMb, 55, 256);
        Assert.True(result.Run.ExecutionTimeMs >= 500, $"wall {result.Run.ExecutionTimeMs} ms < CPU used");
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_IdleProgramAfterBusyOne_CountersStartFromZero(string backend)
    {
        var engine = engines[backend].Engine;
        await engine.RunAsync(Run.Python("block = b'x' * (100 << 20)\nwhile True:\n    pass", limits: new() { CpuTimeSeconds = 1 }));

        var result = await engine.RunAsync(Run.Bash("true"));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.InRange(result.Run.CpuTimeMs, 0, 500);
        Assert.InRange(result.Run.MemoryUsedMb, 0, 50);
    }
}
