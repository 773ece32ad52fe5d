using System.Text;
using Warden.Core.Limits;
using Warden.Core.Sandboxing;

namespace Warden.Core.Execution;

/// <summary>
/// Turns what the kernel and our clocks saw into a status. Order matters: evidence of a limit outranks the exit code
/// (an OOM-killed program also "exited" with SIGKILL), and nothing is called a timeout unless our wall clock fired.
/// </summary>
public static class OutcomeClassifier
{
    private const int SIGKILL = 9, SIGXCPU = 24, SIGXFSZ = 25;

    public static StageResult Classify(ProcessOutcome o, ResourceLimits limits, bool compileStage)
    {
        var (status, error) = Decide(o, limits, compileStage);
        return new StageResult
        {
            Status = status,
            Stdout = Encoding.UTF8.GetString(o.Stdout),
            Stderr = Encoding.UTF8.GetString(o.Stderr),
            ExitCode = o.ExitCode,
            Signal = o.Signal,
            ExecutionTimeMs = (long)o.WallTime.TotalMilliseconds,
            CpuTimeMs = (long)o.CpuTime.TotalMilliseconds,
            MemoryUsedMb = Math.Round(o.PeakMemoryBytes / 1048576.0, 2),
            StdoutTruncated = o.StdoutTruncated,
            StderrTruncated = o.StderrTruncated,
            Error = error,
        };
    }

    private static (ExecutionStatus, string?) Decide(ProcessOutcome o, ResourceLimits limits, bool compileStage)
    {
        string stage = compileStage ? "compiler" : "program";
        if (!o.Started && !o.WallTimeExceeded && !o.Cancelled && !o.OutputLimitExceeded)
            return (ExecutionStatus.SandboxError, o.SandboxError ?? "the sandbox failed to start");
        if (o.OomKills > 0)
            return (ExecutionStatus.MemoryLimit, $"The {stage} exceeded its memory limit of {limits.MemoryBytes >> 20} MB and was killed by the kernel's OOM killer.");
        if (o.WallTimeExceeded && !o.CpuTimeExceeded)
            return (ExecutionStatus.Timeout, $"The {stage} did not finish within {limits.WallTime.TotalSeconds:0.###} s and was killed.");
        if (o.OutputLimitExceeded)
            return (ExecutionStatus.OutputLimit, $"The {stage} wrote more than {limits.MaxOutputBytes} bytes to an output stream and was killed.");
        if (o.Cancelled)
            return (ExecutionStatus.Killed, "The execution was cancelled by the caller.");
        if (o.CpuTimeExceeded || o.Signal == SIGXCPU || (o.Signal == SIGKILL && o.CpuTime >= limits.CpuTime))
            return (ExecutionStatus.Killed, $"The {stage} used its CPU time limit of {limits.CpuTime.TotalSeconds:0.###} s and was killed.");
        if (o.Signal == SIGXFSZ)
            return (compileStage ? ExecutionStatus.CompileError : ExecutionStatus.Error, $"The {stage} exceeded the file size limit of {limits.MaxFileBytes >> 20} MB.");
        if (o.ExitCode == 0) return (ExecutionStatus.Success, null);
        var how = o.Signal is int s ? $"was killed by signal {s}" : $"exited with code {o.ExitCode}";
        return (compileStage ? ExecutionStatus.CompileError : ExecutionStatus.Error, $"The {stage} {how}.");
    }
}
