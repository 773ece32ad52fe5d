using System.Globalization;
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
    bool HelperDropsPrivileges);

/// <summary>
/// The slots of one backend instance: created at start-up (uid lease, cgroup, tmpfs workspace, parked helper), handed
/// out one execution at a time, and recycled clean in the background. Everything slow about a sandbox happens here,
/// off the request path.
/// </summary>
internal sealed partial class SlotPool(SlotPoolSettings settings, ILogger logger) : IAsyncDisposable
{
    private readonly Channel<SandboxSlot> _free = Channel.CreateUnbounded<SandboxSlot>();
    private readonly List<SandboxSlot> _slots = [];
    private readonly HashSet<Task> _recycling = [];
    private readonly Channel<SandboxSlot> _warmFree = Channel.CreateUnbounded<SandboxSlot>();
    private readonly List<SandboxSlot> _warmSlots = [];
    private ICgroupTree? _cgroups;
    private StateDirectoryLease? _stateLease;
    private string _stateDirectory = settings.StateDirectory;

    public string Instance { get; } = WardenInstance.NewName();

    public string RunDirectory { get; private set; } = "";

    public CgroupSupport? CgroupSupport { get; private set; }

    public string CgroupVersion => _cgroups?.Version ?? "none";

    public bool Degraded => _cgroups is null;

    public int Count => _slots.Count;

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
                : new SandboxSlot(name, lease?.Uid, lease, _cgroups?.Create(name), persistent.HostDirectory, 0, persistentWorkspace: true);
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
            if (_warmSlots.Count < capacity)
            {
                var slot = CreateSlot($"warm-{_warmSlots.Count}");
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
    public void RecycleWarm(SandboxSlot slot, ParkedHelper? helper, Func<Task>? cleanup = null, TimeSpan grace = default)
    {
        // Off the caller's path: this runs synchronously otherwise (the helper has exited, unmounting is a syscall), and
        // the caller's result would wait for the workspace to be replaced.
        var task = Task.Run(() => ReleaseWarmAsync(slot, helper, cleanup, grace));
        lock (_recycling) _recycling.Add(task);
        task.ContinueWith(t => { lock (_recycling) _recycling.Remove(t); }, TaskScheduler.Default);
    }

    private async Task ReleaseWarmAsync(SandboxSlot slot, ParkedHelper? helper, Func<Task>? cleanup, TimeSpan grace)
    {
        try
        {
            if (helper is not null && grace > TimeSpan.Zero)
            {
                try { await helper.Process.WaitForExitAsync().WaitAsync(grace).ConfigureAwait(false); }
                catch (TimeoutException) { Log.ReportedExitOutlived(logger, slot.Name, grace.TotalSeconds); }
            }
            if (helper is not null) await helper.DisposeAsync().ConfigureAwait(false);
            if (slot.Cgroup is not null) await slot.Cgroup.KillAllAsync(CancellationToken.None).ConfigureAwait(false);
            if (cleanup is not null) await cleanup().ConfigureAwait(false);
            slot.ResetWorkspace();
            _warmFree.Writer.TryWrite(slot);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            // The slot stays out of circulation; DisposeAsync still destroys it.
            Log.SlotRecycleFailed(logger, slot.Name, e);
        }
    }

    public Task<ParkedHelper> ParkAsync(SandboxSlot slot) =>
        ParkedHelper.StartAsync(settings.HelperPath, settings.HelperDropsPrivileges ? slot.Uid : null, slot.Cgroup?.ProcsFiles ?? []);

    /// <summary>Recycles a slot in the background; <see cref="DisposeAsync"/> waits for it.</summary>
    public void Recycle(SandboxSlot slot)
    {
        // Off the caller's path: ReleaseAsync runs synchronously up to the helper spawn (kill loop, unmount, mount).
        var task = Task.Run(() => ReleaseAsync(slot));
        lock (_recycling) _recycling.Add(task);
        task.ContinueWith(t => { lock (_recycling) _recycling.Remove(t); }, TaskScheduler.Default);
    }

    /// <summary>Returns a slot to the pool, clean: no process, an empty workspace, a helper parked for the next run.</summary>
    public async Task ReleaseAsync(SandboxSlot slot)
    {
        try
        {
            if (slot.Parked is { } unused)
            {
                slot.Parked = null;
                await unused.DisposeAsync().ConfigureAwait(false);
            }
            if (slot.Cgroup is not null) await slot.Cgroup.KillAllAsync(CancellationToken.None).ConfigureAwait(false);
            slot.ResetWorkspace();
            slot.Parked = await ParkAsync(slot).ConfigureAwait(false);
            _free.Writer.TryWrite(slot);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            Log.SlotRecycleFailed(logger, slot.Name, e);
            _ = RetryReleaseAsync(slot);
        }
    }

    private async Task RetryReleaseAsync(SandboxSlot slot)
    {
        await Task.Delay(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        await ReleaseAsync(slot).ConfigureAwait(false);
    }

    public IReadOnlyDictionary<string, string> Describe() => new Dictionary<string, string>
    {
        ["cgroup_version"] = _cgroups?.Version ?? CgroupSupport?.Version ?? "unknown",
        ["degraded"] = (_slots.Count > 0 && _cgroups is null) ? "true" : "false",
        ["slots"] = _slots.Count.ToString(CultureInfo.InvariantCulture),
        ["idle_slots"] = _free.Reader.Count.ToString(CultureInfo.InvariantCulture),
        ["recycling"] = RecyclingCount().ToString(CultureInfo.InvariantCulture),
        ["instance"] = Instance,
    };

    private int RecyclingCount()
    {
        lock (_recycling) return _recycling.Count;
    }

    public async ValueTask DisposeAsync()
    {
        Task[] pending;
        lock (_recycling) pending = [.. _recycling];
        await Task.WhenAll(pending).ConfigureAwait(false);
        foreach (var slot in _slots) await slot.DestroyAsync().ConfigureAwait(false);
        _slots.Clear();
        List<SandboxSlot> warm;
        lock (_warmSlots) { warm = [.. _warmSlots]; _warmSlots.Clear(); }
        foreach (var slot in warm) await slot.DestroyAsync().ConfigureAwait(false);
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

        [LoggerMessage(Diagnostics.EventIds.SlotRecycleFailed, LogLevel.Error, "Recycling sandbox slot {Slot} failed; retrying")]
        public static partial void SlotRecycleFailed(ILogger logger, string slot, Exception exception);
    }
}
