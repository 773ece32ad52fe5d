using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Conformance;

[Collection(nameof(SandboxCollection))]
public sealed class HelloWorldTests(SandboxEngines engines)
{
    private static readonly Dictionary<string, string> Programs = new()
    {
        ["python"] = "print('Hello, World!')",
        ["javascript"] = "console.log('Hello, World!');",
        ["bash"] = "echo 'Hello, World!'",
        ["sh"] = "echo 'Hello, World!'",
        ["c"] = "#include <stdio.h>\nint main(void) { puts(\"Hello, World!\"); return 0; }\n",
        ["c++"] = "#include <iostream>\nint main() { std::cout << \"Hello, World!\" << std::endl; }\n",
        ["java"] = "public class Main { public static void main(String[] args) { System.out.println(\"Hello, World!\"); } }\n",
        ["perl"] = "print \"Hello, World!\\n\";",
    };

    public static TheoryData<string, string> Languages => Backends.Cross(Programs.Keys);

    [Theory]
    [MemberData(nameof(Languages))]
    public async Task Execute_HelloWorld_PrintsExactlyHelloWorld(string backend, string language)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Code(language, Programs[language]), timeoutSeconds: 120);

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("Hello, World!\n", result.Run.Stdout);
        Assert.Equal("", result.Run.Stderr);
        Assert.Equal(0, result.Run.ExitCode);
        Assert.Null(result.Run.Signal);
        Assert.Null(result.Run.Error);
    }

    [Theory]
    [MemberData(nameof(Languages))]
    public async Task Execute_CompiledOrNot_CompileStagePresentOnlyForCompiledLanguages(string backend, string language)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Code(language, Programs[language]), timeoutSeconds: 120);

        Run.AssertStatus(ExecutionStatus.Success, result);
        if (language is "c" or "c++" or "java")
        {
            Assert.NotNull(result.Compile);
            Assert.Equal(ExecutionStatus.Success, result.Compile.Status);
            Assert.Equal(0, result.Compile.ExitCode);
        }
        else
        {
            Assert.Null(result.Compile);
        }
    }
}
