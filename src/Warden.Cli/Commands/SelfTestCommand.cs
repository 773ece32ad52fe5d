using System.CommandLine;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using Warden.Core.Execution;
using Warden.Core.Limits;

namespace Warden.Cli.Commands;

/// <summary>
/// <c>warden self-test</c>: safe-code-execution's self-tests (simple/bad-syntax python and bash, long-running code, RAM hog) plus
/// isolation checks, each against a real sandbox. One line per test; non-zero exit on any failure.
/// </summary>
internal static class SelfTestCommand
{
    private sealed record Case(string Name, string Language, string Code, ExecutionStatus Expected, Func<ExecutionResult, string?> Check,
        LimitRequest? Limits = null);

    private static readonly Case[] Cases =
    [
        new("simple_python", "python", "print('hello from python')", ExecutionStatus.Success,
            r => r.Run.Stdout == "hello from python\n" ? null : $"stdout was {Quote(r.Run.Stdout)}"),
        new("simple_bash", "bash", "echo hello from bash", ExecutionStatus.Success,
            r => r.Run.Stdout == "hello from bash\n" ? null : $"stdout was {Quote(r.Run.Stdout)}"),
        new("bad_syntax_python", "python", "print('unclosed", ExecutionStatus.Error,
            r => r.Run.Stderr.Contains("SyntaxError", StringComparison.Ordinal) ? null : "no SyntaxError on stderr"),
        new("bad_syntax_bash", "bash", "if then fi (", ExecutionStatus.Error,
            r => r.Run.Stderr.Contains("syntax error", StringComparison.Ordinal) ? null : "no syntax error on stderr"),
        new("long_running_code", "python", "import time\ntime.sleep(30)\nprint('should not be here')", ExecutionStatus.Timeout,
            r => r.Run.Stdout.Length == 0 ? null : "the program kept running", new LimitRequest { TimeoutSeconds = 1 }),
        new("ram_hog", "python", "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 1024 * 1024))", ExecutionStatus.MemoryLimit,
            _ => null, new LimitRequest { MemoryMb = 64, TimeoutSeconds = 20 }),
        new("network_blocked", "python",
            "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 8090), timeout=2)\n    print('connected')\nexcept OSError as e:\n    print('blocked', e.errno)",
            ExecutionStatus.Success, r => r.Run.Stdout.StartsWith("blocked", StringComparison.Ordinal) ? null : $"stdout was {Quote(r.Run.Stdout)}"),
        // The bomb never ends by itself: contained means pids.max stops it from spreading and the wall clock still
        // kills the whole tree on time; the next test then proves the slot came back clean.
        new("fork_bomb_contained", "bash", "bomb() { bomb | bomb & }; bomb; exec sleep 30", ExecutionStatus.Timeout,
            r => r.Run.ExecutionTimeMs < 5000 ? null : $"killed only after {r.Run.ExecutionTimeMs} ms",
            new LimitRequest { TimeoutSeconds = 2, MaxProcesses = 32 }),
        new("output_flood", "python", "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)", ExecutionStatus.OutputLimit,
            r => r.Run.StdoutTruncated && r.Run.Stdout.Length == 65536 ? null : $"stdout was {r.Run.Stdout.Length} bytes",
            new LimitRequest { MaxOutputBytes = 65536 }),
        new("read_only_root", "bash", "touch /usr/warden-probe || echo usr-refused; touch /warden-probe || echo root-refused; touch /sandbox/ok && echo workspace-writable",
            ExecutionStatus.Success,
            r => r.Run.Stdout == "usr-refused\nroot-refused\nworkspace-writable\n" && !File.Exists("/usr/warden-probe") ? null : $"stdout was {Quote(r.Run.Stdout)}"),
    ];

    /// <summary>Backend-specific proof that the isolation really is what was configured (safe-code-execution checks gVisor's kernel log).</summary>
    private static readonly Dictionary<string, Case> BackendProof = new()
    {
        ["gvisor"] = new("gvisor_in_effect", "bash", "dmesg 2>&1 | head -3", ExecutionStatus.Success,
            r => r.Run.Stdout.Contains("gVisor", StringComparison.Ordinal) ? null : $"dmesg did not show gVisor: {Quote(r.Run.Stdout)}"),
        ["docker"] = new("docker_container", "bash", "test -e /.dockerenv && echo container; id -u", ExecutionStatus.Success,
            r => r.Run.Stdout.StartsWith("container\n", StringComparison.Ordinal) && !r.Run.Stdout.EndsWith("\n0\n", StringComparison.Ordinal)
                ? null : $"not in an unprivileged Docker container: {Quote(r.Run.Stdout)}"),
        ["bwrap"] = new("bwrap_namespaces", "bash", "echo $$; hostname; ls /proc | grep -c '^[0-9]'", ExecutionStatus.Success,
            r => r.Run.Stdout.StartsWith("2\nsandbox\n", StringComparison.Ordinal) ? null : $"not in fresh pid/uts namespaces: {Quote(r.Run.Stdout)}"),
    };

    public static Command Create()
    {
        var backend = CommonOptions.Backend();
        var config = CommonOptions.Config();
        var command = new Command("self-test", "Run the built-in self-tests against real sandboxes.") { backend, config };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var overrides = new Dictionary<string, string?> { ["Warden:MaxConcurrent"] = "2" };
            if (parse.GetValue(backend) is { } b) overrides["Warden:Backend"] = b;
            try
            {
                await using var host = EngineHost.Create(parse.GetValue(config), overrides);
                var engine = host.Get<ExecutionEngine>();
                Console.WriteLine($"Warden self-test — backend '{engine.Backend.Name}'");
                int failed = 0;
                var cases = BackendProof.TryGetValue(engine.Backend.Name, out var proof) ? [.. Cases, proof] : Cases;
                foreach (var test in cases)
                {
                    var watch = Stopwatch.StartNew();
                    string? problem;
                    try
                    {
                        var result = await engine.ExecuteAsync(new ExecutionRequest { Language = test.Language, Code = test.Code, Limits = test.Limits ?? new() }, cancellationToken);
                        problem = result.Status != test.Expected
                            ? $"expected {test.Expected.ToWireName()}, got {result.Status.ToWireName()} ({result.Run.Error ?? Quote(result.Run.Stderr)})"
                            : test.Check(result);
                    }
                    catch (Exception e) when (e is WardenException or InvalidOperationException or IOException)
                    {
                        problem = e.Message;
                    }
                    if (problem is null) Console.WriteLine($"✔ {test.Name} ({watch.ElapsedMilliseconds} ms)");
                    else { failed++; Console.WriteLine($"✘ {test.Name}: {problem}"); }
                }
                Console.WriteLine(failed == 0 ? $"All {cases.Length} self-tests passed." : $"{failed} of {cases.Length} self-tests FAILED.");
                return failed == 0 ? 0 : 1;
            }
            catch (OptionsValidationException e)
            {
                await Console.Error.WriteLineAsync($"warden self-test: invalid configuration: {string.Join("; ", e.Failures)}");
                return 2;
            }
            catch (InvalidOperationException e)
            {
                await Console.Error.WriteLineAsync($"warden self-test: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    private static string Quote(string s) => "\"" + (s.Length > 200 ? s[..200] + "…" : s).ReplaceLineEndings("\\n") + "\"";
}
