namespace Warden.Core.Execution;

/// <summary>
/// What happened to a run. Each value is reported only on evidence: <see cref="Timeout"/> only when our wall
/// clock fired, <see cref="MemoryLimit"/> only when the cgroup's OOM-kill counter moved, <see cref="OutputLimit"/>
/// only when a stream reached its cap.
/// </summary>
public enum ExecutionStatus
{
    Success,
    Error,
    CompileError,
    Timeout,
    MemoryLimit,
    OutputLimit,
    Killed,
    SandboxError,
}

public static class ExecutionStatusNames
{
    /// <summary>The wire name (snake_case), shared by every API surface and the CLI.</summary>
    public static string ToWireName(this ExecutionStatus status) => status switch
    {
        ExecutionStatus.Success => "success",
        ExecutionStatus.Error => "error",
        ExecutionStatus.CompileError => "compile_error",
        ExecutionStatus.Timeout => "timeout",
        ExecutionStatus.MemoryLimit => "memory_limit",
        ExecutionStatus.OutputLimit => "output_limit",
        ExecutionStatus.Killed => "killed",
        ExecutionStatus.SandboxError => "sandbox_error",
        _ => throw new ArgumentOutOfRangeException(nameof(status)),
    };
}
