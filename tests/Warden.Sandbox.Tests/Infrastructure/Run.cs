using Warden.Core.Execution;
using Warden.Core.Limits;

namespace Warden.Sandbox.Tests.Infrastructure;

/// <summary>Request builders and a time-boxed execute, so a hung sandbox fails its test instead of stalling the suite.</summary>
internal static class Run
{
    public static ExecutionRequest Code(string language, string code, IReadOnlyList<string>? args = null, string? stdin = null,
        LimitRequest? limits = null) =>
        new() { Language = language, Code = code, Args = args, Stdin = stdin, Limits = limits ?? new LimitRequest() };

    public static ExecutionRequest Python(string code, IReadOnlyList<string>? args = null, string? stdin = null, LimitRequest? limits = null) =>
        Code("python", code, args, stdin, limits);

    public static ExecutionRequest Bash(string code, IReadOnlyList<string>? args = null, LimitRequest? limits = null) =>
        Code("bash", code, args, null, limits);

    public static Task<ExecutionResult> RunAsync(this ExecutionEngine engine, ExecutionRequest request, int timeoutSeconds = 60) =>
        engine.RunAsync(request, TestContext.Current.CancellationToken, timeoutSeconds);

    /// <summary>Executes with the caller's token (which may cancel the execution), still bounded in time.</summary>
    public static Task<ExecutionResult> RunAsync(this ExecutionEngine engine, ExecutionRequest request, CancellationToken cancellationToken,
        int timeoutSeconds = 60) =>
        engine.ExecuteAsync(request, cancellationToken).WaitAsync(TimeSpan.FromSeconds(timeoutSeconds), TestContext.Current.CancellationToken);

    /// <summary>Asserts the status, showing what the program said when it is not the expected one.</summary>
    public static void AssertStatus(ExecutionStatus expected, ExecutionResult result)
    {
        if (result.Status == expected) return;
        Assert.Fail($"Expected {expected}, got {result.Status}. error: {result.Run.Error}\nexit: {result.Run.ExitCode} signal: {result.Run.Signal}\n" +
            $"stdout: {Clip(result.Run.Stdout)}\nstderr: {Clip(result.Run.Stderr)}\ncompile stderr: {Clip(result.Compile?.Stderr ?? "")}");
    }

    private static string Clip(string text) => text.Length > 2000 ? text[..2000] + "…" : text;
}
