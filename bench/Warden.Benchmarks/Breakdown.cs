using System.Diagnostics;
using Warden.Core.Cgroups;
using Warden.Core.Limits;
using Warden.Core.Sandboxing.Bubblewrap;
using Warden.Core.Sandboxing.Slots;

namespace Warden.Benchmarks;

/// <summary>
/// Times the engine's building blocks on a private slot (own cgroup, own tmpfs workspace, uid nobody), so the Core
/// row can be split into parts: cgroup file writes per run, and the three things a slot release does on the request
/// path. These call the same internal methods the engine calls; nothing of the engine is changed or re-implemented.
/// </summary>
internal sealed class Breakdown : IAsyncDisposable
{
    private readonly BubblewrapBackend _backend;
    private readonly ResourceLimits _limits;
    private readonly SandboxSlot _slot;

    public Breakdown(BubblewrapBackend backend, LimitPolicy limits, ICgroup cgroup, string workspace)
    {
        _backend = backend;
        _limits = limits.Resolve(null);
        _slot = new SandboxSlot(name: "bench", uid: 65534, uidLease: null, cgroup, workspace, _limits.WorkspaceBytes);
        _slot.ResetWorkspace();
    }

    /// <summary>What every run writes and reads in the slot's cgroup (limits, counter resets, then the counters).</summary>
    public double CgroupFiles()
    {
        var clock = Stopwatch.StartNew();
        _slot.Cgroup!.Apply(_limits);
        _slot.Cgroup.Baseline();
        _slot.Cgroup.Read();
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>The release path: sweep the (empty) cgroup, replace the workspace tmpfs, spawn the next parked helper.</summary>
    public async Task<ReleaseSteps> ReleaseAsync()
    {
        var clock = Stopwatch.StartNew();
        await _slot.Cgroup!.KillAllAsync(CancellationToken.None).ConfigureAwait(false);
        double swept = clock.Elapsed.TotalMilliseconds;
        _slot.ResetWorkspace();
        double reset = clock.Elapsed.TotalMilliseconds;
        var helper = await ParkedHelper.StartAsync(_backend.HelperPath, _slot.Uid, _slot.Cgroup.ProcsFiles).ConfigureAwait(false);
        double parked = clock.Elapsed.TotalMilliseconds;
        await helper.DisposeAsync().ConfigureAwait(false);
        return new ReleaseSteps(swept, reset - swept, parked - reset);
    }

    public async ValueTask DisposeAsync() => await _slot.DestroyAsync().ConfigureAwait(false);
}

internal sealed record ReleaseSteps(double CgroupSweep, double WorkspaceRemount, double HelperSpawn);
