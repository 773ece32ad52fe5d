using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Conformance;

/// <summary>
/// Rust, one of the four languages a fresh install offers (the launcher and the runtime image install rustc): rustc
/// compiles inside the sandbox under the compile limits, the binary runs under the request's, on every backend.
/// </summary>
[Collection(nameof(SandboxCollection))]
public sealed class RustTests(SandboxEngines engines)
{
    private const string Echo = """
        use std::io::Read;
        fn main() {
            let args: Vec<String> = std::env::args().skip(1).collect();
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input).unwrap();
            println!("args={} stdin={}", args.join(","), input.trim());
            eprintln!("to stderr");
            std::process::exit(3);
        }
        """;

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_Rust_CompilesAndRunsWithArgsStdinAndExitCode(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Code("rust", Echo, args: ["a", "b c"], stdin: "from stdin\n"), timeoutSeconds: 120);

        Assert.Equal(ExecutionStatus.Success, result.Compile?.Status);
        Run.AssertStatus(ExecutionStatus.Error, result);
        Assert.Equal(3, result.Run.ExitCode);
        Assert.Equal("args=a,b c stdin=from stdin\n", result.Run.Stdout);
        Assert.Equal("to stderr\n", result.Run.Stderr);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_RustTypeError_CompileErrorWithRustcMessage(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Code("rust", "fn main() { let x: u32 = \"text\"; }\n"), timeoutSeconds: 120);

        Run.AssertStatus(ExecutionStatus.CompileError, result);
        Assert.Contains("mismatched types", result.Compile!.Stderr, StringComparison.Ordinal);
        Assert.Equal("", result.Run.Stdout);
    }

    /// <summary>
    /// The compile runs inside the sandbox's limits, not beside them: with 8 MB of compile memory rustc cannot even
    /// load (relocating its driver library alone dirties more), and the answer is the limit, not a compiler that ran
    /// unbounded on the host. (At 24 MB a loaded host could keep rustc paging its code in until the compile timed out.)
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_RustCompileOverCompileMemory_MemoryLimitAndNoRun(string backend)
    {
        await using var engine = await TestEngine.CreateAsync(backend, new Dictionary<string, string?> { ["Warden:Limits:Compile:MemoryMb"] = "8" });

        var result = await engine.Engine.RunAsync(Run.Code("rust", "fn main() { println!(\"ran\"); }\n"), timeoutSeconds: 120);

        Assert.Equal(ExecutionStatus.MemoryLimit, result.Compile?.Status);
        Run.AssertStatus(ExecutionStatus.MemoryLimit, result);
        Assert.Equal("", result.Run.Stdout);
    }
}
