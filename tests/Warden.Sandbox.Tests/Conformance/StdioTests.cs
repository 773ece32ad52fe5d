using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Conformance;

[Collection(nameof(SandboxCollection))]
public sealed class StdioTests(SandboxEngines engines)
{
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_Stdin_EchoedBack(string backend)
    {
        const string input = "first line\nsecond line\n\ttabbed ünïcødé\n";

        var result = await engines[backend].Engine.RunAsync(Run.Python("import sys\nsys.stdout.write(sys.stdin.read())", stdin: input));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal(input, result.Run.Stdout);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_NoStdin_ReadsEndOfFile(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Python("import sys\nprint(repr(sys.stdin.read()))"));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("''\n", result.Run.Stdout);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_Args_PassedVerbatim(string backend)
    {
        string[] args = ["plain", "with space", "quote's \"both\"", "--bind", "$HOME", "*", ""];

        var result = await engines[backend].Engine.RunAsync(Run.Python("import sys, json\nprint(json.dumps(sys.argv[1:]))", args));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal(args, System.Text.Json.JsonSerializer.Deserialize<string[]>(result.Run.Stdout));
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_StdoutAndStderr_KeptApart(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Bash("echo to-out; echo to-err >&2"));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("to-out\n", result.Run.Stdout);
        Assert.Equal("to-err\n", result.Run.Stderr);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_Unicode_RoundTrips(string backend)
    {
        const string text = "héllo wörld ✓ 日本語 Ελληνικά עברית 🎉👩‍💻";

        var result = await engines[backend].Engine.RunAsync(Run.Python($"import sys\nprint('{text}')\nprint(sys.argv[1])", [text]));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal($"{text}\n{text}\n", result.Run.Stdout);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_InvalidUtf8Output_BecomesReplacementCharacter(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Python(
            "import sys\nsys.stdout.buffer.write(b'ok\\xff\\xfe end\\n')\nsys.stderr.buffer.write(b'\\xc3(\\n')"));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("ok\uFFFD\uFFFD end\n", result.Run.Stdout);
        Assert.Equal("\uFFFD(\n", result.Run.Stderr);
    }
}
