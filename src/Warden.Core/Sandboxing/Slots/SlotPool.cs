using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Warden.Core.Cgroups;
using Warden.Core.Interop;
using Warden.Core.State;

namespace Warden.Core.Sandboxing.Slots;

/// <summary>How a backend wants its slots.</summary>
internal sealed record SlotPoolSettings(
    string StateDirectory,
    int Slots,
    int UidBase,
    int UidCount,
    bool AllowDegraded,
    string HelperPath,
    long WorkspaceBytes,
    /// <summary>The helper drops to the slot uid before exec (bwrap). False when the exec'd tool must start as root and
    /// switches users itself (runsc: the sandboxed process runs as the slot uid inside gVisor).</summary>
    bool HelperDropsPrivileges,
    /// <summary>Retries and backoff of recycling; null for <see cref="RecyclePolicy.Default"/>.</summary>
    RecyclePolicy? Recycling = null);

/// <summary>
/// The slots of one backend instance: created at start-up (uid lease, cgroup, tmpfs workspace, parked helper), handed
/// out one execution at a time, and recycled clean in the background. Everything slow about a sandbox happens here,
/// off the request path.
/// </summary>
internal sealed partial class SlotPool(SlotPoolSettings settings, ILogger logger) : IAsyncDisposable
{
    private readonly Channel<SandboxSlot> _free = Channel.CreateUnbounded<SandboxSlot>();
    private readonly List<SandboxSlot> _slots = [];
    private readonly List<SandboxSlot> _quarantined = [];
    private readonly Channel<SandboxSlot> _warmFree = Channel.CreateUnbounded<SandboxSlot>();
    private readonly List<SandboxSlot> _warmSlots = [];
    private ICgroupTree? _cgroups;
    private StateDirectoryLease? _stateLease;
    private readonly SlotRecycler _recycler = new(settings.Recycling ?? RecyclePolicy.Default, logger);
    private string _stateDirectory = settings.StateDirectory;
    private int _warmCreated;
    private bool _started;

    public string Instance { get; } = WardenInstance.NewName();

    public string RunDirectory { get; private set; } = "";

    /// <summary>The state directory this pool holds (resolved at start).</summary>
    public string StateDirectoryPath => _stateDirectory;

    public CgroupSupport? CgroupSupport { get; private set; }

    public string CgroupVersion => _cgroups?.Version ?? "none";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        bool root = Libc.geteuid() == 0;
        // Refuses a state directory another Warden process uses, and gives it and what is made in it the modes the
        // sandboxes need: run/ and run/{instance} traversable by the slots' uids (their /etc and workspaces are there).
        // Once: a start that failed half-way may be retried, and must not take a second lease that nothing releases.
        _stateLease ??= StateDirectoryLock.Acquire(settings.StateDirectory);
        _stateDirectory = _stateLease.Path;
        var runRoot = Path.Combine(_stateDirectory, "run");
        RunDirectory = Path.Combine(runRoot, Instance);
        var changes = new List<ModeChange?>(_stateLease.ModeChanges)
        {
            StateDirectory.EnsureDirectory(runRoot, StateDirectory.TraversableMode),
            StateDirectory.EnsureDirectory(Path.Combine(_stateDirectory, "uids"), StateDirectory.PrivateMode),
            StateDirectory.EnsureDirectory(RunDirectory, StateDirectory.TraversableMode),
        };
        foreach (var change in changes.OfType<ModeChange>()) StateDirectory.Report(logger, change);
        StaleInstances.Reap(_stateDirectory, logger);

        CgroupSupport = CgroupHost.Probe();
        if (CgroupSupport.Usable) _cgroups = CgroupHost.Open(CgroupSupport, Instance);
        else if (!settings.AllowDegraded)
            throw new InvalidOperationException($"Cgroups cannot be used ({CgroupSupport.Detail}), so memory, process and CPU limits " +
                "cannot be enforced. Fix the host (see `warden doctor`) or set Warden:AllowDegraded=true (WARDEN_ALLOW_DEGRADED=true) to run without them.");
        else Log.RunningDegraded(logger, CgroupSupport.Detail);

        var starts = new List<Task>();
        for (int i = 0; i < settings.Slots; i++)
        {
            var slot = CreateSlot($"slot-{i}");
            _slots.Add(slot);
            starts.Add(Task.Run(async () =>
            {
                slot.ResetWorkspace();
                slot.Parked = await ParkAsync(slot).ConfigureAwait(false);
                _free.Writer.TryWrite(slot);
            }, cancellationToken));
        }
        await Task.WhenAll(starts).ConfigureAwait(false);
        _started = true;
        Log.Started(logger, Instance, _slots.Count, CgroupVersion, root);
    }

    /// <summary>
    /// A slot's host resources: its own uid (when root), cgroup and workspace path. Used for the pool itself and for
    /// dedicated slots (a session's); the caller owns a dedicated slot and destroys it. With <paramref name="persistent"/>
    /// the slot runs as the workspace's own uid on the workspace's directory instead of a pool uid and a tmpfs.
    /// </summary>
    public SandboxSlot CreateSlot(string name, PersistentWorkspace? persistent = null)
    {
        var locks = Path.Combine(_stateDirectory, "uids");
        var lease = Libc.geteuid() != 0 ? null
            : persistent is null ? UidLease.Acquire(locks, settings.UidBase, settings.UidCount)
            : UidLease.AcquireExact(locks, persistent.Uid);
        try
        {
            return persistent is null
                ? new SandboxSlot(name, lease?.Uid, lease, _cgroups?.Create(name), Path.Combine(RunDirectory, "ws-" + name), settings.WorkspaceBytes)
                : new SandboxSlot(name, lease?.Uid, lease, _cgroups?.Create(name), persistent.HostDirectory, 0, persistentWorkspace: true,
                    gid: persistent.HostGid);
        }
        catch
        {
            lease?.Dispose();
            throw;
        }
    }

    public ValueTask<SandboxSlot> AcquireAsync(CancellationToken cancellationToken) => _free.Reader.ReadAsync(cancellationToken);

    /// <summary>
    /// A slot for a warm sandbox: apart from the execution slots, so warm sandboxes never take capacity from cold runs.
    /// Created on first need up to <paramref name="capacity"/>, then reused after recycling (new workspace, empty cgroup).
    /// </summary>
    public async ValueTask<SandboxSlot> AcquireWarmAsync(int capacity, CancellationToken cancellationToken)
    {
        if (_warmFree.Reader.TryRead(out var free)) return free;
        lock (_warmSlots)
        {
            // Quarantined warm slots left the list: they take no capacity. Names are never reused (their cgroups remain).
            if (_warmSlots.Count < capacity)
            {
                var slot = CreateSlot($"warm-{_warmCreated++}");
                _warmSlots.Add(slot);
                slot.ResetWorkspace();
                return slot;
            }
        }
        return await _warmFree.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Recycles a warm slot in the background: its sandbox is gone for good; the slot gets a new workspace.</summary>
    /// <param name="cleanup">Backend cleanup once the sandbox's processes are gone (gVisor deletes its container record).</param>
    /// <param name="grace">How long the tool may take to exit on its own before it is killed (a run that ended on its
    /// program's exit report, see <see cref="ExitReport"/>).</param>
    public void RecycleWarm(SandboxSlot slot, ParkedHelper? helper, Func<Task>? cleanup = null, TimeSpan grace = default) =>
        _ = _recycler.Recycle(slot.Name, async cancellationToken =>
        {
            // Each step is done once: a retry after a failure goes on from the step that failed.
            if (helper is { } exiting)
            {
                if (grace > TimeSpan.Zero)
                {
                    try { await exiting.Process.WaitForExitAsync().WaitAsync(grace, cancellationToken).ConfigureAwait(false); }
                    catch (TimeoutException) { Log.ReportedExitOutlived(logger, slot.Name, grace.TotalSeconds); }
                }
                helper = null;
                await exiting.DisposeAsync().ConfigureAwait(false);
            }
            if (slot.Cgroup is not null) await slot.Cgroup.KillAllAsync(cancellationToken).ConfigureAwait(false);
            if (cleanup is { } pending)
            {
                await pending().ConfigureAwait(false);
                cleanup = null;
            }
            slot.ResetWorkspace();
            _warmFree.Writer.TryWrite(slot);
        }, () => Quarantine(slot, _warmSlots));

    public Task<ParkedHelper> ParkAsync(SandboxSlot slot) =>
        ParkedHelper.StartAsync(settings.HelperPath, settings.HelperDropsPrivileges ? slot.Uid : null, slot.Cgroup?.ProcsFiles ?? [], slot.Gid);

    /// <summary>
    /// Returns a slot to the pool in the background, clean: no process, an empty workspace, a helper parked for the
    /// next run. <see cref="DisposeAsync"/> waits for it.
    /// </summary>
    public void Recycle(SandboxSlot slot) =>
        _ = _recycler.Recycle(slot.Name, async cancellationToken =>
        {
            if (slot.Parked is { } unused)
            {
                slot.Parked = null;
                await unused.DisposeAsync().ConfigureAwait(false);
            }
            if (slot.Cgroup is not null) await slot.Cgroup.KillAllAsync(cancellationToken).ConfigureAwait(false);
            slot.ResetWorkspace();
            slot.Parked = await ParkAsync(slot).ConfigureAwait(false);
            _free.Writer.TryWrite(slot);
        }, () => Quarantine(slot, _slots));

    /// <summary>
    /// Takes a slot that could not be recycled out of circulation for good. It keeps its uid lease and cgroup until
    /// shutdown, so neither is given to another slot while something of the last run may still hold them.
    /// </summary>
    private void Quarantine(SandboxSlot slot, List<SandboxSlot> from)
    {
        lock (from) from.Remove(slot);
        lock (_quarantined) _quarantined.Add(slot);
    }

    public SlotStatus Status()
    {
        int total;
        lock (_slots) total = _slots.Count;
        return new SlotStatus(total, _free.Reader.Count, _recycler.Running, _recycler.Quarantined, _recycler.Failures);
    }

    /// <summary>The cgroup version in use, or the host's when none is (degraded).</summary>
    public string CgroupVersionText => _cgroups?.Version ?? CgroupSupport?.Version ?? "unknown";

    /// <summary>Started without cgroup limits (Warden:AllowDegraded).</summary>
    public bool WithoutCgroups => _started && _cgroups is null;

    public async ValueTask DisposeAsync()
    {
        await _recycler.DisposeAsync().ConfigureAwait(false);
        List<SandboxSlot> all;
        lock (_slots) { all = [.. _slots]; _slots.Clear(); }
        lock (_warmSlots) { all.AddRange(_warmSlots); _warmSlots.Clear(); }
        lock (_quarantined) { all.AddRange(_quarantined); _quarantined.Clear(); }
        foreach (var slot in all) await slot.DestroyAsync().ConfigureAwait(false);
        _cgroups?.Dispose();
        try { if (RunDirectory.Length > 0) Directory.Delete(RunDirectory, recursive: true); } catch (IOException) { }
        _stateLease?.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.BackendStarted, LogLevel.Information, "Sandbox slots of instance {Instance} ready: {Slots} slots, cgroups {CgroupVersion}, root {Root}")]
        public static partial void Started(ILogger logger, string instance, int slots, string cgroupVersion, bool root);

        [LoggerMessage(Diagnostics.EventIds.RunningDegraded, LogLevel.Warning, "Running DEGRADED without cgroup limits: {Reason}")]
        public static partial void RunningDegraded(ILogger logger, string reason);

        // Normally the program's own doing (it wrote the report itself and kept running): worth an operator's look.
        [LoggerMessage(Diagnostics.EventIds.ReportedExitOutlived, LogLevel.Warning,
            "Sandbox slot {Slot}: the program reported its exit but the sandbox was still running {Seconds} s later; killing it")]
        public static partial void ReportedExitOutlived(ILogger logger, string slot, double seconds);
    }
}
