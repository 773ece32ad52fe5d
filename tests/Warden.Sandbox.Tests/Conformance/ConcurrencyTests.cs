using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Conformance;

[Collection(nameof(SandboxCollection))]
public sealed class ConcurrencyTests(SandboxEngines engines)
{
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_EightAtOnce_EachSeesOnlyItsOwnWorkspace(string backend)
    {
        var engine = engines[backend].Engine;
        // Each run lists its workspace, leaves a file, waits so the runs overlap, then reads the file back.
        const string code = """
            import os, sys, time
            token = sys.argv[1]
            before = sorted(os.listdir('/sandbox')) + sorted(os.listdir('/tmp'))
            open('/sandbox/mine.txt', 'w').write(token)
            open('/tmp/mine.txt', 'w').write(token)
            time.sleep(0.5)
            print(token, before, open('/sandbox/mine.txt').read(), open('/tmp/mine.txt').read())
            """;
        var tokens = Enumerable.Range(0, 8).Select(i => $"token-{i}-{Guid.NewGuid():N}").ToList();

        var results = await Task.WhenAll(tokens.Select(t => engine.RunAsync(Run.Python(code, [t]), timeoutSeconds: 120)));

        for (int i = 0; i < tokens.Count; i++)
        {
            Run.AssertStatus(ExecutionStatus.Success, results[i]);
            Assert.Equal($"{tokens[i]} ['main.py'] {tokens[i]} {tokens[i]}\n", results[i].Run.Stdout);
        }
        Assert.Equal(8, results.Select(r => r.ExecutionId).Distinct().Count());
    }

    /// <summary>
    /// The sandbox check (health, readiness, the one right after start) takes a slot for one tiny run. With one slot and
    /// no queue, a request arriving meanwhile waits for it: it is not turned away with a 503 the check caused.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_WhileTheSandboxCheckHoldsTheOnlySlot_WaitsInsteadOfRefused(string backend)
    {
        await using var engine = await TestEngine.CreateAsync(backend, new Dictionary<string, string?>
        {
            ["Warden:MaxConcurrent"] = "1", ["Warden:MaxQueue"] = "0",
        });
        var ct = TestContext.Current.CancellationToken;

        // The check claims the slot before its first await: the run below finds it taken.
        var check = engine.Engine.CheckSandboxAsync(ct);
        var result = await engine.Engine.RunAsync(Run.Bash("echo after-the-check"), timeoutSeconds: 120);

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("after-the-check\n", result.Run.Stdout);
        Assert.True((await check)?.Ok, "the check itself still ran");
        Assert.Equal(0, engine.Engine.Stats.Rejected);
    }
}
