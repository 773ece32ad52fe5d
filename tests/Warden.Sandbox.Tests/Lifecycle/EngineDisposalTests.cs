using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Lifecycle;

/// <summary>An engine of its own, used hard and then disposed: the host must look exactly as it did before.</summary>
[Collection(nameof(SandboxCollection))]
public sealed class EngineDisposalTests(SandboxEngines engines)
{
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task DisposeAsync_AfterRunsAndKills_LeavesNoCgroupMountOrProcess(string backend)
    {
        // The suite's shared engines work in the background (pool refills, slot recycling): host-wide counts are only
        // comparable while they are settled.
        await engines.SettleAsync();
        var before = HostLeaks.Take();
        var engine = await TestEngine.CreateAsync(backend, new Dictionary<string, string?> { ["Warden:MaxConcurrent"] = "2" });
        string? instance = engine.Instance;
        try
        {
            var executions = engine.Engine;
            Assert.NotEqual(before, HostLeaks.Take()); // the engine's own slots exist while it lives
            var results = await Task.WhenAll(
                executions.RunAsync(Run.Python("print('ok')")),
                executions.RunAsync(Run.Python("import time\ntime.sleep(30)", limits: new LimitRequest { TimeoutSeconds = 1 })),
                executions.RunAsync(Run.Bash("setsid sleep 1000 & echo bg")));
            Run.AssertStatus(ExecutionStatus.Success, results[0]);
            Run.AssertStatus(ExecutionStatus.Timeout, results[1]);
            Run.AssertStatus(ExecutionStatus.Success, results[2]);
        }
        finally
        {
            await engine.DisposeAsync();
        }

        if (instance is not null) Assert.Empty(HostLeaks.ForInstance(instance));
        await engines.SettleAsync();
        var after = HostLeaks.Take();
        Assert.True(after.CgroupDirectories <= before.CgroupDirectories && after.Mounts <= before.Mounts
            && after.SandboxProcesses <= before.SandboxProcesses, $"before: {before}; after: {after}");
    }
}
