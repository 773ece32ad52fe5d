using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Interop;
using Warden.Core.Pool;
using Warden.Core.Sandboxing.Seccomp;
using Warden.Core.Sandboxing.Slots;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Bubblewrap;

/// <summary>
/// The embedded default: bubblewrap namespaces + a seccomp filter + cgroups + rlimits, no daemon. Sandboxes come from a
/// <see cref="SlotPool"/> whose helpers drop to the slot's host uid before they exec bwrap.
/// </summary>
public sealed partial class BubblewrapBackend : ISessionBackend, IWarmSandboxSource, IAsyncDisposable
{
    private readonly WardenOptions _options;
    private readonly BubblewrapOptions _bwrap;
    private readonly SandboxFilesystemOptions _filesystem;
    private readonly SlotPool _pool;
    private readonly SemaphoreSlim _startLock = new(1, 1);
    private string _seccompNoNet = "", _seccompNet = "";
    private SandboxBase _base = null!;
    private bool _started;

    public BubblewrapBackend(IOptions<WardenOptions> options, IOptions<BubblewrapOptions> bwrap, IOptions<SandboxFilesystemOptions> filesystem,
        IOptions<Limits.LimitsOptions> limits, ILogger<BubblewrapBackend> logger)
    {
        _options = options.Value;
        _bwrap = bwrap.Value;
        _filesystem = filesystem.Value;
        HelperPath = ExecHelper.Locate(_options);
        _pool = new SlotPool(new SlotPoolSettings(_options.StateDirectory, _options.MaxConcurrent, _options.SandboxUidBase,
            _options.SandboxUidCount, _options.AllowDegraded, HelperPath, (long)limits.Value.WorkspaceMb << 20, HelperDropsPrivileges: true), logger);
    }

    public string Name => "bwrap";

    internal string BwrapPath => _bwrap.BwrapPath;

    internal string HelperPath { get; }

    internal BwrapLayout Layout { get; private set; } = null!;

    internal BwrapTools Tools { get; private set; } = null!;

    internal string SeccompProgram(bool network) => network ? _seccompNet : _seccompNoNet;

    public BackendProbe Probe() => BubblewrapProbe.Run(_bwrap.BwrapPath, HelperPath);

    public BackendCapabilities Capabilities { get; } = new()
    {
        WarmSandboxes = true,
        LongLivedSandboxes = true,
        PersistentHomes = true,
        PerSlotUids = Libc.geteuid() == 0,
        // Egress needs root: warden-exec's setns into Warden's namespace (without root a UDS bridge would be needed: not built).
        NetworkModes = Libc.geteuid() == 0 ? ["none", "egress"] : ["none"],
    };

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _startLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_started) return;
            BackendProbe.ThrowUnlessRunnable(Probe());
            await _pool.StartAsync(cancellationToken).ConfigureAwait(false);
            _seccompNoNet = Path.Combine(_pool.RunDirectory, "seccomp-nonet.bpf");
            _seccompNet = Path.Combine(_pool.RunDirectory, "seccomp-net.bpf");
            SeccompCompiler.Compile(_seccompNoNet, allowInet: false);
            SeccompCompiler.Compile(_seccompNet, allowInet: true);
            Layout = CreateLayout();
            _base = Layout.Base();
            Tools = new BwrapTools(BwrapPath, _seccompNoNet, _seccompNet);
            _started = true;
        }
        finally
        {
            _startLock.Release();
        }
    }

    public async ValueTask<ISandbox> AcquireAsync(CancellationToken cancellationToken)
    {
        EnsureStarted();
        var slot = await _pool.AcquireAsync(cancellationToken).ConfigureAwait(false);
        return new BwrapSandbox(this, _pool, slot);
    }

    public async Task<IWarmSandbox> StartWarmAsync(WarmRecipe recipe, int slotCapacity, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(recipe);
        EnsureStarted();
        var slot = await _pool.AcquireWarmAsync(slotCapacity, cancellationToken).ConfigureAwait(false);
        ParkedHelper? helper = null;
        ExitReport? report = null;
        try
        {
            // The idle stub is bounded by the slot's cgroup like any program; the request's limits replace these at go.
            slot.Cgroup?.Apply(recipe.IdleLimits, idle: recipe.LoadsAtIdleWeight);
            helper = await _pool.ParkAsync(slot).ConfigureAwait(false);
            // The stub reports the program's exit through a FIFO only the slot's uid may write (see ExitReport): the run
            // ends then, and the sandbox's teardown leaves the request's path. Without a slot uid there is no report.
            if (slot.Uid is int uid) report = ExitReport.Create(Path.Combine(_pool.RunDirectory, "exit-" + slot.Name), uid);
            var control = ControlFields(Spec(slot, recipe.IdleLimits, recipe.Stub, exitReport: report?.HostPath));
            await helper.LaunchAsync(SlotRun.Encode(control)).ConfigureAwait(false);
            return new BwrapWarmSandbox(_pool, slot, helper, recipe, report);
        }
        catch
        {
            report?.Dispose();
            _pool.RecycleWarm(slot, helper);
            throw;
        }
    }

    /// <summary>
    /// The spec of a sandbox on <paramref name="slot"/>: its workspace at <paramref name="workspace"/>, the program as
    /// uid 1000 in bwrap's user namespace (the helper has already dropped to the slot's, or the session's, host uid).
    /// </summary>
    internal SandboxSpec Spec(SandboxSlot slot, Limits.ResourceLimits limits, SandboxCommand command,
        IReadOnlyList<ReadOnlyBind>? support = null, string workspace = SandboxSpecBuilder.DefaultWorkspace, string? exitReport = null,
        EgressEndpoint? egress = null) =>
        SandboxSpecBuilder.Build(_base, new SandboxUser(BwrapRenderer.SandboxUid, BwrapRenderer.SandboxUid), limits, command,
            new WorkspaceMount(slot.HostWorkspace, workspace), support, exitReport, egress);

    /// <summary>The control block fields that turn a parked helper into bwrap running <paramref name="spec"/>.</summary>
    internal List<string> ControlFields(SandboxSpec spec) => BwrapRenderer.ControlFields(spec, Tools);

    public BackendStatus Status() => new()
    {
        Backend = Name,
        Instance = _pool.Instance,
        CgroupVersion = _pool.CgroupVersionText,
        WithoutCgroups = _pool.WithoutCgroups,
        Slots = _pool.Status(),
        Details = new Dictionary<string, string>
        {
            ["mode"] = Libc.geteuid() == 0 ? "per-slot host uid" : "service uid (not root)",
        },
    };

    /// <summary>Sandboxes are handed out only after <see cref="BackendStartup"/> started the backend.</summary>
    private void EnsureStarted()
    {
        if (!_started) throw new InvalidOperationException("The bwrap backend is not started: BackendStartup.StartAsync starts it.");
    }

    private BwrapLayout CreateLayout()
    {
        // Kept across starts in the state directory: copying it was most of a `warden run` (see SandboxEtcCache).
        var (etc, elsewhere) = SandboxEtcCache.Prepare(Path.Combine(_pool.StateDirectoryPath, "etc"), _filesystem.ReadOnlyPathsIfPresent,
            BwrapRenderer.SandboxUid, SandboxSpecBuilder.DefaultWorkspace);
        // Merged-/usr hosts have /bin -> usr/bin etc.: recreate the links; older layouts get read-only binds.
        var (links, topDirs) = SandboxFilesystemOptions.TopLevel();
        return new BwrapLayout(etc, [.. _filesystem.ReadOnlyDirectories, .. topDirs], links, elsewhere);
    }

    public async ValueTask DisposeAsync()
    {
        await DisposeSessionsAsync().ConfigureAwait(false);
        await _pool.DisposeAsync().ConfigureAwait(false);
    }
}
