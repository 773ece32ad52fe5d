using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Conformance;

[Collection(nameof(SandboxCollection))]
public sealed class CompileErrorTests(SandboxEngines engines)
{
    private static readonly Dictionary<string, (string Code, string Message)> Broken = new()
    {
        ["c"] = ("#include <stdio.h>\nint main(void) { puts(\"x\") return 0; }\n", "error: expected"),
        ["c++"] = ("int main() { undeclared_function_xyz(); }\n", "undeclared_function_xyz"),
        ["java"] = ("public class Main { public static void main(String[] a) { int x = \"text\"; } }\n", "incompatible types"),
    };

    public static TheoryData<string, string> Languages => Backends.Cross(Broken.Keys);

    [Theory]
    [MemberData(nameof(Languages))]
    public async Task Execute_SyntaxError_CompileErrorWithCompilerMessage(string backend, string language)
    {
        var (code, message) = Broken[language];

        var result = await engines[backend].Engine.RunAsync(Run.Code(language, code), timeoutSeconds: 120);

        Run.AssertStatus(ExecutionStatus.CompileError, result);
        Assert.NotNull(result.Compile);
        Assert.Equal(ExecutionStatus.CompileError, result.Compile.Status);
        Assert.NotEqual(0, result.Compile.ExitCode);
        Assert.Contains(message, result.Compile.Stdout + result.Compile.Stderr, StringComparison.Ordinal);
        Assert.False(string.IsNullOrEmpty(result.Run.Error));
        Assert.Equal("", result.Run.Stdout);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_CompiledProgramFailsAtRunTime_ErrorNotCompileError(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Code("c", "int main(void) { return 7; }\n"), timeoutSeconds: 120);

        Run.AssertStatus(ExecutionStatus.Error, result);
        Assert.Equal(ExecutionStatus.Success, result.Compile!.Status);
        Assert.Equal(7, result.Run.ExitCode);
    }
}
