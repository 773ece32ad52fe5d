using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Conformance;

[Collection(nameof(SandboxCollection))]
public sealed class ExitCodeTests(SandboxEngines engines)
{
    public static TheoryData<string, string> ExitingPrograms => Backends.Cross(["python", "bash", "javascript", "c"]);

    [Theory]
    [MemberData(nameof(ExitingPrograms))]
    public async Task Execute_ExitCode3_ErrorWithExitCode3(string backend, string language)
    {
        var code = language switch
        {
            "python" => "import sys\nprint('before')\nsys.exit(3)",
            "bash" => "echo before\nexit 3",
            "javascript" => "console.log('before'); process.exitCode = 3;",
            _ => "#include <stdio.h>\nint main(void) { puts(\"before\"); return 3; }\n",
        };

        var result = await engines[backend].Engine.RunAsync(Run.Code(language, code), timeoutSeconds: 120);

        Run.AssertStatus(ExecutionStatus.Error, result);
        Assert.Equal(3, result.Run.ExitCode);
        Assert.Null(result.Run.Signal);
        Assert.Equal("before\n", result.Run.Stdout);
        Assert.Contains("code 3", result.Run.Error, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_UncaughtException_ErrorWithTraceback(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Python("raise ValueError('boom')"));

        Run.AssertStatus(ExecutionStatus.Error, result);
        Assert.Equal(1, result.Run.ExitCode);
        Assert.Contains("ValueError: boom", result.Run.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_KilledBySignal_ErrorWithSignal(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Python("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)"));

        Run.AssertStatus(ExecutionStatus.Error, result);
        Assert.Equal(15, result.Run.Signal);
        Assert.Null(result.Run.ExitCode);
        Assert.Contains("signal 15", result.Run.Error, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_PipeIntoHead_ProducerDiesOfSigpipeQuietly(string backend)
    {
        // A sandboxed `yes | head` must end as it does anywhere: SIGPIPE must not be inherited as ignored.
        var result = await engines[backend].Engine.RunAsync(Run.Bash("yes | head -n 3; echo \"status=${PIPESTATUS[0]}\""));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("y\ny\ny\nstatus=141\n", result.Run.Stdout);
    }
}
