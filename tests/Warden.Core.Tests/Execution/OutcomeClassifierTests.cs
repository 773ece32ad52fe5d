using System.Text;
using Warden.Core.Execution;
using Warden.Core.Sandboxing;

namespace Warden.Core.Tests.Execution;

public sealed class OutcomeClassifierTests
{
    private static ProcessOutcome Outcome(int? exitCode = 0, int? signal = null, bool started = true) => new()
    {
        Started = started,
        ExitCode = exitCode,
        Signal = signal,
        WallTime = TimeSpan.FromMilliseconds(120),
        CpuTime = TimeSpan.FromMilliseconds(80),
        PeakMemoryBytes = 3 << 20,
        Stdout = Encoding.UTF8.GetBytes("out"),
        Stderr = Encoding.UTF8.GetBytes("err"),
    };

    private static StageResult Run(ProcessOutcome outcome, bool compile = false) =>
        OutcomeClassifier.Classify(outcome, TestLimits.Create(cpuSeconds: 2), compile);

    [Fact]
    public void Classify_ExitZero_Success()
    {
        var result = Run(Outcome());

        Assert.Equal(ExecutionStatus.Success, result.Status);
        Assert.Null(result.Error);
        Assert.Equal("out", result.Stdout);
        Assert.Equal("err", result.Stderr);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(120, result.ExecutionTimeMs);
        Assert.Equal(80, result.CpuTimeMs);
        Assert.Equal(3.0, result.MemoryUsedMb);
    }

    [Fact]
    public void Classify_NonZeroExit_ErrorNamingCode()
    {
        var result = Run(Outcome(exitCode: 3));

        Assert.Equal(ExecutionStatus.Error, result.Status);
        Assert.Equal(3, result.ExitCode);
        Assert.Contains("code 3", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Classify_NonZeroExitInCompileStage_CompileError()
    {
        Assert.Equal(ExecutionStatus.CompileError, Run(Outcome(exitCode: 1), compile: true).Status);
    }

    [Fact]
    public void Classify_OomKillWithSignal9_MemoryLimitBeatsSignal()
    {
        var result = Run(Outcome(exitCode: null, signal: 9) with { OomKills = 1, CpuTime = TimeSpan.FromSeconds(5) });

        Assert.Equal(ExecutionStatus.MemoryLimit, result.Status);
        Assert.Contains("memory", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Classify_OomKillAndWallTimeExceeded_MemoryLimit()
    {
        Assert.Equal(ExecutionStatus.MemoryLimit, Run(Outcome(exitCode: null, signal: 9) with { OomKills = 1, WallTimeExceeded = true }).Status);
    }

    [Fact]
    public void Classify_Signal9WithoutEvidence_ErrorNotTimeoutOrMemory()
    {
        // Something else SIGKILLed it (e.g. the program killed itself): no limit was hit, so no limit is blamed.
        var result = Run(Outcome(exitCode: null, signal: 9));

        Assert.Equal(ExecutionStatus.Error, result.Status);
        Assert.Contains("signal 9", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Classify_WallTimeExceeded_Timeout()
    {
        var result = Run(Outcome(exitCode: null, signal: 9) with { WallTimeExceeded = true });

        Assert.Equal(ExecutionStatus.Timeout, result.Status);
    }

    [Fact]
    public void Classify_LongWallTimeWithoutClockFiring_NotTimeout()
    {
        var result = Run(Outcome() with { WallTime = TimeSpan.FromMinutes(10) });

        Assert.Equal(ExecutionStatus.Success, result.Status);
    }

    [Fact]
    public void Classify_OutputLimitExceeded_OutputLimit()
    {
        var result = Run(Outcome(exitCode: null, signal: 9) with { OutputLimitExceeded = true, StdoutTruncated = true });

        Assert.Equal(ExecutionStatus.OutputLimit, result.Status);
        Assert.True(result.StdoutTruncated);
    }

    [Fact]
    public void Classify_Cancelled_Killed()
    {
        var result = Run(Outcome(exitCode: null, signal: 9) with { Cancelled = true });

        Assert.Equal(ExecutionStatus.Killed, result.Status);
        Assert.Contains("cancelled", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Classify_SigXcpu_KilledMentioningCpu()
    {
        var result = Run(Outcome(exitCode: null, signal: 24));

        Assert.Equal(ExecutionStatus.Killed, result.Status);
        Assert.Contains("CPU", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Classify_SigKillAfterCpuLimitUsed_Killed()
    {
        var result = Run(Outcome(exitCode: null, signal: 9) with { CpuTime = TimeSpan.FromSeconds(3) });

        Assert.Equal(ExecutionStatus.Killed, result.Status);
    }

    [Fact]
    public void Classify_SigXfsz_ErrorNamingFileSize()
    {
        var result = Run(Outcome(exitCode: null, signal: 25));

        Assert.Equal(ExecutionStatus.Error, result.Status);
        Assert.Contains("file size", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Classify_NotStarted_SandboxError()
    {
        var result = Run(Outcome(exitCode: null, started: false) with { SandboxError = "bwrap: boom" });

        Assert.Equal(ExecutionStatus.SandboxError, result.Status);
        Assert.Equal("bwrap: boom", result.Error);
    }

    [Fact]
    public void Classify_NotStartedWithoutDetail_SandboxErrorWithGenericMessage()
    {
        var result = Run(Outcome(exitCode: null, started: false));

        Assert.Equal(ExecutionStatus.SandboxError, result.Status);
        Assert.False(string.IsNullOrWhiteSpace(result.Error));
    }

    [Fact]
    public void Classify_InvalidUtf8_ReplacedNotThrown()
    {
        var result = Run(Outcome() with { Stdout = [0x6f, 0x6b, 0xff, 0xfe] });

        Assert.Equal("ok\uFFFD\uFFFD", result.Stdout);
    }

    [Fact]
    public void Classify_PeakMemory_ReportedInMegabytesRounded()
    {
        var result = Run(Outcome() with { PeakMemoryBytes = (long)(1.5 * 1048576) + 1234 });

        Assert.Equal(1.5, result.MemoryUsedMb, 2);
    }

    [Theory]
    [InlineData(ExecutionStatus.Success, "success")]
    [InlineData(ExecutionStatus.CompileError, "compile_error")]
    [InlineData(ExecutionStatus.MemoryLimit, "memory_limit")]
    [InlineData(ExecutionStatus.SandboxError, "sandbox_error")]
    public void ToWireName_Status_SnakeCase(ExecutionStatus status, string wire)
    {
        Assert.Equal(wire, status.ToWireName());
    }
}
