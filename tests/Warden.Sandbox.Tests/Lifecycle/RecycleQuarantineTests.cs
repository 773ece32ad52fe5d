using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Warden.Core;
using Warden.Core.Execution;
using Warden.Core.Interop;
using Warden.Core.Sandboxing;
using Warden.Core.Sandboxing.Slots;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Lifecycle;

/// <summary>
/// A slot that cannot be recycled is quarantined after a bounded number of tries, never retried forever nor put back
/// broken: its workspace is made impossible to replace for real (the mount point becomes a regular file, so a new
/// tmpfs cannot be mounted and a new directory cannot be made), and the engine must go on serving from the other slots.
/// </summary>
[Collection(nameof(SandboxCollection))]
public sealed class RecycleQuarantineTests
{
    [Theory]
    [MemberData(nameof(Backends.WithSlots), MemberType = typeof(Backends))]
    public async Task Recycle_WorkspaceCannotBeReplaced_SlotQuarantinedAndTheOthersServe(string backend)
    {
        if (backend == Backends.NoSlotBackend) Assert.Skip($"WARDEN_TEST_BACKENDS={string.Join(',', Backends.Names)} lists no backend with recycled slots.");
        await using var test = await TestEngine.CreateAsync(backend, new Dictionary<string, string?>
        {
            ["Warden:MaxConcurrent"] = "2",
            ["Warden:Pool:Enabled"] = "false",
        });
        var engine = test.Engine;
        Break(Workspace(test, "slot-0"));

        // Runs go to whichever slot is free; within a few, one lands on the broken slot, which fails its run (the
        // workspace cannot be written) and then its recycling.
        var results = new List<ExecutionResult>();
        var deadline = DateTime.UtcNow.AddSeconds(45);
        while (engine.Backend.Status().Slots!.Quarantined == 0 && DateTime.UtcNow < deadline)
        {
            if (results.Count < 8) results.Add(await engine.RunAsync(Run.Python("print('ok')")));
            else await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        var status = engine.Backend.Status();
        Assert.Equal(new SlotStatus(Total: 1, Idle: 1, Recycling: 0, Quarantined: 1, RecycleFailures: RecyclePolicy.Default.Attempts),
            status.Slots! with { Idle = 1, Recycling = 0 });
        Assert.True(status.Degraded);
        Assert.Equal("true", status.ToFacts()["degraded"]);
        Assert.Equal("1", status.ToFacts()["quarantined_slots"]);
        Assert.Single(results, r => r.Status == ExecutionStatus.SandboxError);
        Assert.All(results.Where(r => r.Status != ExecutionStatus.SandboxError), r => Run.AssertStatus(ExecutionStatus.Success, r));

        // The remaining slot serves every run, two at a time included (the second waits for it).
        var after = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => engine.RunAsync(Run.Python($"print({i})"))));
        Assert.All(after, r => Run.AssertStatus(ExecutionStatus.Success, r));
        Assert.Equal(1, engine.Backend.Status().Slots!.Quarantined);

        var measured = Observe(test.Services.GetRequiredService<ExecutionMetrics>().Meter);
        Assert.Equal(1, measured[("warden.pool.slots", "quarantined")]);
        Assert.Equal(1, measured[("warden.pool.slots", "total")]);
        Assert.Equal(RecyclePolicy.Default.Attempts, measured[("warden.slots.recycle_failures", "")]);
    }

    [Theory]
    [MemberData(nameof(Backends.WithSlots), MemberType = typeof(Backends))]
    public async Task RecycleWarm_WorkspaceCannotBeReplaced_WarmSlotQuarantinedAndThePoolRefills(string backend)
    {
        if (backend == Backends.NoSlotBackend) Assert.Skip($"WARDEN_TEST_BACKENDS={string.Join(',', Backends.Names)} lists no backend with recycled slots.");
        await using var test = await TestEngine.CreateAsync(backend, new Dictionary<string, string?>
        {
            ["Warden:MaxConcurrent"] = "1",
            ["Warden:Pool:Enabled"] = "true",
            ["Warden:Pool:Size"] = "1",
            ["Warden:Pool:Targets:python"] = "1",
            ["Warden:Pool:Targets:javascript"] = "0",
            ["Warden:Pool:Targets:bash"] = "0",
        });
        var engine = test.Engine;
        Assert.True(await engine.Pool.WaitFilledAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken), "the pool did not fill");
        // The one ready python sandbox is the first warm slot's.
        Break(Workspace(test, "warm-0"));

        var broken = await engine.RunAsync(Run.Python("print('ok')"));
        Run.AssertStatus(ExecutionStatus.SandboxError, broken);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (engine.Backend.Status().Slots!.Quarantined == 0 && DateTime.UtcNow < deadline) await Task.Delay(50, TestContext.Current.CancellationToken);
        Assert.Equal(1, engine.Backend.Status().Slots!.Quarantined);

        // A quarantined warm slot takes no warm capacity: the pool starts a sandbox on a new slot and serves from it.
        Assert.True(await engine.Pool.WaitFilledAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken), "the pool did not refill");
        long hits = engine.Pool.Metrics.Hits;
        var next = await engine.RunAsync(Run.Python("print('warm')"));
        Run.AssertStatus(ExecutionStatus.Success, next);
        Assert.Equal("warm\n", next.Run.Stdout);
        Assert.Equal(hits + 1, engine.Pool.Metrics.Hits);
    }

    /// <summary>The host path of <paramref name="slot"/>'s workspace (a tmpfs mount as root, a directory otherwise).</summary>
    private static string Workspace(TestEngine test, string slot)
    {
        var state = test.Services.GetRequiredService<IOptions<WardenOptions>>().Value.StateDirectory;
        var path = Path.Combine(state, "run", test.Instance!, "ws-" + slot);
        Assert.True(Directory.Exists(path), $"no workspace at {path}");
        return path;
    }

    /// <summary>Turns the workspace into a regular file: no tmpfs can be mounted on it and no directory made there.</summary>
    private static void Break(string workspace)
    {
        if (Environment.IsPrivilegedProcess) Libc.umount2(workspace, Libc.MNT_DETACH);
        Directory.Delete(workspace, recursive: true);
        File.WriteAllText(workspace, "not a directory");
    }

    /// <summary>The engine's observable instruments now, by (name, state tag); "" when the measurement has no state.</summary>
    private static Dictionary<(string, string), long> Observe(Meter meter)
    {
        var values = new Dictionary<(string, string), long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, meter)) l.EnableMeasurementEvents(instrument);
        };
        void Record(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            string state = "";
            foreach (var tag in tags) if (tag.Key == "state") state = (string)tag.Value!;
            values[(instrument.Name, state)] = value;
        }
        listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.Start();
        listener.RecordObservableInstruments();
        return values;
    }
}
