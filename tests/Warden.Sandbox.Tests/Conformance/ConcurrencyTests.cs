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
}
