using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Cgroups;
using Warden.Core.Interop;
using Warden.Core.Pool;
using Warden.Core.Sandboxing.Slots;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Gvisor;

/// <summary>
/// gVisor: every run is a fresh runsc sandbox (a user-space kernel between the program and the host) from an OCI bundle
/// Warden writes. Slots give it the same uid, cgroup and workspace machinery as bwrap; the helper stays root (runsc
/// needs it) and the program runs as the slot's uid inside gVisor. runsc runs with --ignore-cgroups inside the slot's
/// cgroup, which the helper joined: the pattern that keeps OOM evidence readable after the sandbox is gone.
/// </summary>
public sealed partial class GvisorBackend : ISandboxBackend, IWarmSandboxSource, ISessionBackend, IAsyncDisposable
{
    private readonly WardenOptions _options;
    private readonly GvisorOptions _gvisor;
    private readonly SandboxFilesystemOptions _filesystem;
    private readonly SlotPool _pool;
    private readonly SemaphoreSlim _startLock = new(1, 1);
    private SandboxBase _base = null!;
    private bool _started;
    private long _runs;

    public GvisorBackend(IOptions<WardenOptions> options, IOptions<GvisorOptions> gvisor, IOptions<SandboxFilesystemOptions> filesystem,
        IOptions<Limits.LimitsOptions> limits, ILogger<GvisorBackend> logger)
    {
        _options = options.Value;
        _gvisor = gvisor.Value;
        _filesystem = filesystem.Value;
        _pool = new SlotPool(new SlotPoolSettings(_options.StateDirectory, _options.MaxConcurrent, _options.SandboxUidBase,
            _options.SandboxUidCount, _options.AllowDegraded, ExecHelper.Locate(_options), (long)limits.Value.WorkspaceMb << 20,
            HelperDropsPrivileges: false), logger);
    }

    public string Name => "gvisor";

    internal GvisorOptions Options => _gvisor;

    internal string Platform { get; private set; } = "";

    internal string StateRoot { get; private set; } = "";

    internal GvisorLayout Layout { get; private set; } = null!;

    internal string Instance => _pool.Instance;

    public BackendProbe Probe() => RunscProbe.Run(_gvisor, ExecHelper.Locate(_options));

    // Root only (StartAsync refuses otherwise): every slot has its own uid.
    public BackendCapabilities Capabilities { get; } = new() { WarmSandboxes = true, LongLivedSandboxes = true, PersistentHomes = true, PerSlotUids = true, NetworkModes = ["none", "egress"] };

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _startLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_started) return;
            if (Libc.geteuid() != 0) throw new InvalidOperationException("The gvisor backend needs root (runsc creates namespaces and cgroups).");
            var probe = Probe();
            BackendProbe.ThrowUnlessRunnable(probe);
            Platform = RunscProbe.ChoosePlatform(_gvisor);
            await _pool.StartAsync(cancellationToken).ConfigureAwait(false);
            StateRoot = Path.Combine(_pool.RunDirectory, "runsc");
            Directory.CreateDirectory(StateRoot);
            // Inside gVisor the program runs as the slot's host uid (no user namespace): every slot has its own.
            Layout = GvisorLayout.Create(_pool.RunDirectory, _filesystem, _options.SandboxUidBase, SandboxSpecBuilder.DefaultWorkspace);
            _base = Layout.Base();
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
        return new GvisorSandbox(this, _pool, slot);
    }

    /// <summary>
    /// Starts a warm sandbox: runsc boots the Sentry with the language stub as the container's process, which loads the
    /// interpreter and waits on stdin. The boot (about 150 ms here) is what the request no longer waits for.
    /// </summary>
    public async Task<IWarmSandbox> StartWarmAsync(WarmRecipe recipe, int slotCapacity, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(recipe);
        EnsureStarted();
        var slot = await _pool.AcquireWarmAsync(slotCapacity, cancellationToken).ConfigureAwait(false);
        ParkedHelper? helper = null;
        GvisorRun? run = null;
        try
        {
            slot.Cgroup?.Apply(CgroupLimits(recipe.IdleLimits, _gvisor), idle: recipe.LoadsAtIdleWeight);
            helper = await _pool.ParkAsync(slot).ConfigureAwait(false);
            run = await PrepareRunAsync(slot, recipe.Stub, recipe.IdleLimits, cancellationToken, exitReport: true).ConfigureAwait(false);
            await helper.LaunchAsync(SlotRun.Encode(run.Control)).ConfigureAwait(false);
            return new GvisorWarmSandbox(this, _pool, slot, helper, recipe, run);
        }
        catch
        {
            run?.Report?.Dispose();
            var id = run?.ContainerId;
            _pool.RecycleWarm(slot, helper, id is null ? null : () => DeleteIfLeftAsync(id, slot.Cgroup));
            throw;
        }
    }

    /// <summary>
    /// Writes the slot's OCI bundle for <paramref name="command"/> and returns the control block that makes a parked
    /// helper exec <c>runsc run</c> on it.
    /// </summary>
    /// <param name="exitReport">For a warm sandbox: a fresh exit report FIFO in the bundle, bound in at
    /// <see cref="ExitReport.SandboxPath"/> (<see cref="GvisorRun.Report"/>).</param>
    internal async Task<GvisorRun> PrepareRunAsync(SandboxSlot slot, SandboxCommand command, Limits.ResourceLimits limits,
        CancellationToken cancellationToken, bool exitReport = false, EgressEndpoint? egress = null)
    {
        var uid = slot.Uid ?? throw new InvalidOperationException("gVisor slots need a sandbox uid (run as root).");
        var bundle = BundleDirectory(slot.Name);
        Directory.CreateDirectory(bundle);
        var report = exitReport ? ExitReport.Create(Path.Combine(bundle, "exit-report"), uid) : null;
        try
        {
            return await PrepareRunAsync(slot, Spec(slot, limits, command, exitReport: report?.HostPath, egress: egress), report, cancellationToken)
                .ConfigureAwait(false);
        }
        catch
        {
            report?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes the slot's OCI bundle for <paramref name="spec"/> (from <see cref="Spec"/>) and returns the control block
    /// that makes a parked helper exec <c>runsc run</c> on it. <paramref name="report"/>: the exit report the spec binds.
    /// <paramref name="session"/>: a session's long-lived sandbox (its binds change only through the sandbox).
    /// </summary>
    internal async Task<GvisorRun> PrepareRunAsync(SandboxSlot slot, SandboxSpec spec, ExitReport? report, CancellationToken cancellationToken,
        bool session = false, bool sharedWorkspace = false)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var bundle = BundleDirectory(slot.Name);
        Directory.CreateDirectory(bundle);
        await File.WriteAllTextAsync(Path.Combine(bundle, "config.json"), OciRenderer.Render(spec).ToJsonString(), cancellationToken).ConfigureAwait(false);
        var pidFile = Path.Combine(bundle, "pid");
        File.Delete(pidFile);
        var id = NextContainerId(slot.Name);
        var control = new List<string>
        {
            // No RLIMIT_FSIZE/CPU on runsc itself: the Sentry's guest memory is a host file it truncates to gigabytes, and
            // its CPU time includes gVisor's own. The spec's rlimits apply to the program inside.
            "rlimit=core:0:0",
        };
        // Egress: warden-exec joins Warden's namespace before it execs runsc, whose --network host then uses it.
        if (Bubblewrap.BwrapRenderer.NetnsField(spec) is { } netns) control.Add(netns);
        control.AddRange([
            "--",
            _gvisor.RunscPath, "--root", StateRoot, "--platform", Platform,
            "--network", OciRenderer.RunscNetwork(spec), "--ignore-cgroups", "--oci-seccomp",
        ]);
        if (_gvisor.DebugLogDirectory is { } logs) control.AddRange(["--debug", "--debug-log", logs.TrimEnd('/') + "/"]);
        // The exit report is a host FIFO; gVisor opens host FIFOs only when told to. The sandbox's other binds hold none
        // but those the program itself creates in its workspace.
        if (report is not null) control.AddRange(["--host-fifo", "open"]);
        // A session's binds change only through the sandbox while it runs (the host touches a home before and after,
        // never during): gVisor may cache them instead of asking the gofer to revalidate every path component, and
        // keeps the FIFOs and sockets the program makes there (they exist only inside gVisor, and revalidation against
        // the host dropped them).
        // A home shared by several users' sandboxes changes under this one: there gVisor must revalidate (shared access),
        // or one user would not see another's new files.
        if (session) control.AddRange(["--file-access-mounts", sharedWorkspace ? "shared" : "exclusive"]);
        control.AddRange(["run", "--bundle", bundle, "--pid-file", pidFile, id]);
        return new GvisorRun(control, pidFile, id, report);
    }

    /// <summary>
    /// The spec of a sandbox on <paramref name="slot"/>: the program runs as <paramref name="uid"/> (default: the slot's
    /// host uid; a session with a persistent workspace passes its own) with the workspace at <paramref name="workspace"/>.
    /// </summary>
    internal SandboxSpec Spec(SandboxSlot slot, Limits.ResourceLimits limits, SandboxCommand command, IReadOnlyList<ReadOnlyBind>? support = null,
        string workspace = SandboxSpecBuilder.DefaultWorkspace, string? exitReport = null, int? uid = null, SandboxBase? shared = null,
        EgressEndpoint? egress = null, int? gid = null)
    {
        int user = uid ?? slot.Uid ?? throw new InvalidOperationException("gVisor slots need a sandbox uid (run as root).");
        return SandboxSpecBuilder.Build(shared ?? _base, new SandboxUser(user, gid ?? user), limits, command, new WorkspaceMount(slot.HostWorkspace, workspace),
            support, exitReport, egress);
    }

    /// <summary>The Sentry and gofer are charged to the same cgroup as the program: they get their overhead on top.</summary>
    internal static Limits.ResourceLimits CgroupLimits(Limits.ResourceLimits limits, GvisorOptions options) => limits with
    {
        MemoryBytes = limits.MemoryBytes + ((long)options.MemoryOverheadMb << 20),
        MaxProcesses = Math.Max(limits.MaxProcesses, options.HostPidsLimit),
    };

    /// <summary>
    /// A killed <c>runsc run</c> leaves its container record behind (<c>ID_sandbox:ID.state</c> and <c>.lock</c>);
    /// delete it. Once the slot's cgroup is empty the record is all that is left, and removing its files is what
    /// <c>runsc delete</c> would do — without a Go process, and without it signalling the pids the record names, which
    /// the host may have given to other processes by now. Anything else left, or no cgroup to prove the processes
    /// gone: <c>runsc delete --force</c>.
    /// </summary>
    internal async Task DeleteIfLeftAsync(string id, ICgroup? cgroup)
    {
        // "ID_*", not "*ID*": container ids end in a run number, and "…-35" is a prefix of "…-350".
        var left = Directory.EnumerateFileSystemEntries(StateRoot, id + "_*").ToList();
        if (left.Count == 0) return;
        string[] record = [id + "_sandbox:" + id + ".state", id + "_sandbox:" + id + ".lock"];
        if (cgroup is not null && cgroup.IsEmpty() && left.All(path => record.Contains(Path.GetFileName(path))))
        {
            foreach (var path in left) File.Delete(path);
            return;
        }
        var start = new ProcessStartInfo(_gvisor.RunscPath) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "--root", StateRoot, "delete", "--force", id }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
    }

    internal string NextContainerId(string slot) =>
        $"warden-{_pool.Instance}-{slot}-{Interlocked.Increment(ref _runs).ToString(CultureInfo.InvariantCulture)}";

    internal string BundleDirectory(string slot) => Path.Combine(_pool.RunDirectory, $"bundle-{slot}");

    public BackendStatus Status() => new()
    {
        Backend = Name,
        Instance = _pool.Instance,
        CgroupVersion = _pool.CgroupVersionText,
        WithoutCgroups = _pool.WithoutCgroups,
        Slots = _pool.Status(),
        Details = new Dictionary<string, string>
        {
            ["platform"] = Platform.Length > 0 ? Platform : RunscProbe.ChoosePlatform(_gvisor),
            ["runtime"] = RunscProbe.Version(_gvisor.RunscPath),
        },
    };

    /// <summary>Sandboxes are handed out only after <see cref="BackendStartup"/> started the backend.</summary>
    internal void EnsureStarted()
    {
        if (!_started) throw new InvalidOperationException("The gvisor backend is not started: BackendStartup.StartAsync starts it.");
    }

    public async ValueTask DisposeAsync()
    {
        await DisposeSessionsAsync().ConfigureAwait(false);
        await _pool.DisposeAsync().ConfigureAwait(false);
    }
}
