using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Interop;
using Warden.Core.Limits;
using Warden.Core.Sandboxing.Slots;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Docker;

/// <summary>
/// Docker: each execution gets its own container from the runtime image, with a read-only root, no capabilities,
/// no-new-privileges, Warden's seccomp profile, no network, memory without swap, pids and CPU limits, and an optional
/// runtime (runsc for Docker + gVisor). Containers are started ahead of time (a keeper pool, one use each), so a
/// request pays for an archive upload and an exec, not for a container start. All are labelled with the instance and
/// reaped at start-up when their instance died. Every container, keeper or session, runs under a host uid of its own,
/// leased from Warden:SandboxUidBase's range as the slot backends lease theirs.
/// </summary>
public sealed partial class DockerBackend : ISandboxBackend, ISessionBackend, IAsyncDisposable
{
    private readonly WardenOptions _options;
    private readonly DockerOptions _docker;
    private readonly LimitPolicy _limits;
    private readonly ILogger<DockerBackend> _logger;
    private readonly Channel<DockerKeeper> _ready = Channel.CreateUnbounded<DockerKeeper>();
    private readonly HashSet<Task> _background = [];
    private readonly SlotRecycler _recycler;
    private readonly SemaphoreSlim _startLock = new(1, 1);
    private readonly List<UidLease> _kept = [];
    private DockerEngine? _engine;
    private string _serverVersion = "";
    private long _containers;
    private bool _started;

    public DockerBackend(IOptions<WardenOptions> options, IOptions<DockerOptions> docker, LimitPolicy limits, ILogger<DockerBackend> logger)
    {
        _options = options.Value;
        _docker = docker.Value;
        _limits = limits;
        _logger = logger;
        _recycler = new SlotRecycler(RecyclePolicy.Default, logger);
    }

    public string Name => "docker";

    internal string Instance { get; } = WardenInstance.NewName();

    internal DockerEngine Engine => _engine ?? throw new InvalidOperationException("The docker backend is not started.");

    internal DockerOptions Options => _docker;

    public BackendProbe Probe() => DockerProbe.Run(_docker);

    /// <remarks>Long-lived sandboxes with the daemon's default runtime only: under another runtime (runsc) the container's
    /// cgroup holds that runtime's own processes, so interrupts and counters would not reach the program; the gvisor backend
    /// serves gVisor sessions.</remarks>
    public BackendCapabilities Capabilities => new()
    {
        LongLivedSandboxes = _docker.Runtime.Length == 0, PersistentHomes = _docker.Runtime.Length == 0,
        // Egress puts Warden's listener into a keeper's namespace: root, on the daemon's host, with runc (gVisor's netstack
        // would hide the namespace's loopback from the program).
        NetworkModes = _docker.Runtime.Length == 0 && Libc.geteuid() == 0 ? ["none", "egress"] : ["none"],
        // The daemon runs as root and starts a container as any uid: each keeper and session leases one of its own.
        PerSlotUids = true,
    };

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _startLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_started) return;
            BackendProbe.ThrowUnlessRunnable(Probe());
            _engine = new DockerEngine(_docker.SocketPath());
            _serverVersion = await _engine.ConnectAsync(cancellationToken).ConfigureAwait(false);
            await ReapStaleAsync(cancellationToken).ConfigureAwait(false);
            await Task.WhenAll(Enumerable.Range(0, _options.MaxConcurrent).Select(_ => Refill())).ConfigureAwait(false);
            _started = true;
            Log.Started(_logger, Instance, _serverVersion, _options.MaxConcurrent);
        }
        finally
        {
            _startLock.Release();
        }
    }

    public async ValueTask<ISandbox> AcquireAsync(CancellationToken cancellationToken)
    {
        if (!_started) throw new InvalidOperationException("The docker backend is not started: BackendStartup.StartAsync starts it.");
        // A keeper is ready when the pool keeps up; otherwise this start one now (the cold path) rather than wait.
        if (!_ready.Reader.TryRead(out var keeper)) keeper = await CreateKeeperAsync(_limits.Resolve(null), cancellationToken).ConfigureAwait(false);
        else _ = Refill();
        return new DockerSandbox(this, keeper);
    }

    /// <summary>A fresh keeper with the default limits and no network; stages adjust the limits before they run.</summary>
    /// <param name="trust">With network: the CA files of a proxy that terminates TLS, bound into the keeper (null: none).</param>
    internal async Task<DockerKeeper> CreateKeeperAsync(ResourceLimits limits, CancellationToken cancellationToken, Egress.EgressTrustFiles? trust = null)
    {
        var n = Interlocked.Increment(ref _containers).ToString(CultureInfo.InvariantCulture);
        var name = $"warden-{Instance}-{n}";
        var volume = name + "-ws";
        // A host uid of the keeper's own, as a bwrap or gVisor slot has: without a user namespace the kernel counts some
        // budgets per host uid whatever the namespaces (inotify instances, pipe buffer pages, message queue bytes), so
        // executions sharing one uid would share them, and one tenant's program could exhaust another's.
        var lease = UidLease.Acquire(UidLocks(), _options.SandboxUidBase, _options.SandboxUidCount);
        string? id = null;
        Networking.EgressNetwork? egress = null;
        // As for a session (StartSessionAsync): the daemon's calls run to their end, bounded; the caller's token is
        // honoured between them, so an abandoned cold start leaves no container or volume behind.
        using var bounded = new CancellationTokenSource(DaemonCallTimeout);
        var daemon = bounded.Token;
        try
        {
            var spec = Spec(limits, KeeperCommand, volume, new SandboxUser(lease.Uid, lease.Uid), trust);
            await Engine.CreateVolumeAsync(DockerRenderer.Volume(spec, Instance), daemon).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            id = await Engine.CreateContainerAsync(name,
                DockerRenderer.Keeper(spec, Instance, _docker.Runtime), daemon).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            await Engine.StartAsync(id, daemon).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            var state = await Engine.InspectAsync(id, daemon).ConfigureAwait(false);
            int initPid = (int?)state?["State"]?["Pid"] ?? 0;
            // tini starts the idle process at once; give it a moment to appear before listing init's children.
            var own = DockerKeeper.ProcessesOf(initPid);
            for (int i = 0; i < 50 && own.Count < 2; i++)
            {
                await Task.Delay(2, cancellationToken).ConfigureAwait(false);
                own = DockerKeeper.ProcessesOf(initPid);
            }
            egress = limits.Network ? await KeeperNetworkAsync(id, initPid, daemon).ConfigureAwait(false) : null;
            return new DockerKeeper(id, name, volume, limits.Network, DockerRenderer.Resources(spec.Cgroup), DockerKeeper.FindCgroup(id), own, lease)
            {
                Egress = egress,
            };
        }
        catch
        {
            egress?.Dispose();
            await RemoveAsync(id ?? name, volume, lease).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Puts Warden's proxy listener into a just-started keeper's network namespace (design §2.3). The pid is pinned with
    /// a pidfd, confirmed by a second inspect, its namespace opened, and the pidfd signalled (0) afterwards: a live pidfd
    /// after the open proves the namespace file was the keeper's, not a process that took the pid since. A keeper in
    /// Warden's own namespace (a daemon that ignored "none") is refused.
    /// </summary>
    private async Task<Networking.EgressNetwork> KeeperNetworkAsync(string id, int initPid, CancellationToken cancellationToken)
    {
        int pidfd = initPid > 0 ? (int)Libc.syscall2(Libc.SYS_pidfd_open, initPid, 0) : -1;
        if (pidfd < 0) throw new InvalidOperationException($"The keeper {id}'s init (pid {initPid}) cannot be pinned: is the daemon on this host?");
        try
        {
            var again = await Engine.InspectAsync(id, cancellationToken).ConfigureAwait(false);
            if ((int?)again?["State"]?["Pid"] != initPid || (bool?)again?["State"]?["Running"] != true)
                throw new InvalidOperationException($"The keeper {id} is no longer running as pid {initPid}.");
            var netns = Networking.NetworkNamespace.Open($"/proc/{initPid}/ns/net");
            try
            {
                if (Libc.syscall4(Libc.SYS_pidfd_send_signal, pidfd, 0, 0, 0) != 0)
                    throw new InvalidOperationException($"The keeper {id}'s init exited while its network namespace was opened.");
                if (Networking.NetworkNamespace.Identity(netns) == Networking.NetworkNamespace.IdentityOf("/proc/self/ns/net"))
                    throw new InvalidOperationException($"The keeper {id} shares Warden's network namespace; egress needs its own.");
                return await Networking.EgressNetwork.InsideAsync(netns, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                netns.Dispose();
                throw;
            }
        }
        finally
        {
            Libc.close(pidfd);
        }
    }

    /// <summary>
    /// How long one Engine API call that makes something (a volume, a container, a start) may take. Such calls are not
    /// cancelled by the caller: the daemon would finish them regardless, and what it made would have no owner.
    /// </summary>
    private static readonly TimeSpan DaemonCallTimeout = TimeSpan.FromSeconds(60);

    /// <summary>What a keeper runs: nothing but holding the sandbox open.</summary>
    private static readonly SandboxCommand KeeperCommand =
        new(["/bin/sleep", "infinity"], new Dictionary<string, string> { ["PATH"] = "/usr/local/bin:/usr/bin:/bin" }, []);

    /// <summary>
    /// The spec of a container sandbox from the runtime image, as <paramref name="user"/> (the keeper's leased uid), with
    /// <paramref name="volume"/> as its workspace: a keeper's (with <see cref="KeeperCommand"/>) or a stage's run in it.
    /// </summary>
    internal SandboxSpec Spec(ResourceLimits limits, SandboxCommand command, string volume, SandboxUser user, Egress.EgressTrustFiles? trust = null) =>
        Spec(limits, command, new WorkspaceMount(volume, SandboxSpecBuilder.DefaultWorkspace, limits.WorkspaceBytes), user, trust: trust);

    /// <summary>
    /// The spec of a container sandbox from the runtime image with any workspace: a sized one is a volume Warden creates
    /// (<see cref="DockerRenderer.Volume"/>), an unsized one a host directory bound in (a session's persistent home, with
    /// <paramref name="user"/> its owner). <paramref name="support"/>: read-only binds (a session's driver files).
    /// </summary>
    internal SandboxSpec Spec(ResourceLimits limits, SandboxCommand command, WorkspaceMount workspace, SandboxUser user,
        IReadOnlyList<ReadOnlyBind>? support = null, Egress.EgressTrustFiles? trust = null) =>
        SandboxSpecBuilder.Build(new SandboxBase(new ImageRoot(_docker.Image), []), user, limits, command, workspace, support,
            egress: limits.Network ? new EgressEndpoint(null, trust) : null);

    /// <summary>A container's user as Docker writes it ("uid:gid") as the spec's user.</summary>
    internal static SandboxUser ConfiguredUser(string user)
    {
        var ids = user.Split(':');
        return new SandboxUser(int.Parse(ids[0], CultureInfo.InvariantCulture), int.Parse(ids[^1], CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Starts a keeper in place of one taken, on the recycle path every backend's slots share (bounded retries, then
    /// quarantine): a keeper that cannot be started is one keeper less, counted and reported, not a silent gap.
    /// </summary>
    private Task Refill() => _recycler.Recycle("keeper", async cancellationToken =>
    {
        var keeper = await CreateKeeperAsync(_limits.Resolve(null), cancellationToken).ConfigureAwait(false);
        if (!_ready.Writer.TryWrite(keeper)) await RemoveAsync(keeper).ConfigureAwait(false);
    }, () => { });

    /// <summary>Removes a used keeper and its volume in the background, then releases its uid; shutdown waits for it.</summary>
    internal void Discard(DockerKeeper keeper) => Track(RemoveAsync(keeper));

    private Task RemoveAsync(DockerKeeper keeper)
    {
        // The listener and namespace handle go first: nothing may connect through a keeper being removed.
        keeper.Egress?.Dispose();
        return RemoveAsync(keeper.Id, keeper.Volume, keeper.Uid);
    }

    /// <summary>
    /// Removes a keeper's container and volume, then releases its uid. When either may be left, the uid is kept until
    /// shutdown instead (as a quarantined slot keeps its own): a process still running under it must never share it with
    /// the next keeper.
    /// </summary>
    private async Task RemoveAsync(string? id, string volume, UidLease uid)
    {
        try
        {
            if (id is not null) await Engine.RemoveContainerAsync(id, CancellationToken.None).ConfigureAwait(false);
            await Engine.RemoveVolumeAsync(volume, CancellationToken.None).ConfigureAwait(false);
            uid.Dispose();
        }
        // OperationCanceledException: the client's own timeout on a daemon that does not answer; the container may live on.
        catch (Exception e) when (e is IOException or HttpRequestException or InvalidOperationException or OperationCanceledException)
        {
            Log.RemoveFailed(_logger, id ?? volume, e);
            Keep(uid);
        }
    }

    /// <summary>
    /// Holds a uid whose container could not be removed until shutdown: an unreferenced lease would be released when the
    /// collector finalizes its lock file, and the next keeper or session could then get it.
    /// </summary>
    internal void Keep(UidLease uid)
    {
        lock (_kept) _kept.Add(uid);
    }

    private void Track(Task task)
    {
        lock (_background) _background.Add(task);
        task.ContinueWith(t => { lock (_background) _background.Remove(t); }, TaskScheduler.Default);
    }

    /// <summary>Containers and volumes of instances that died without cleaning up (labelled with their instance).</summary>
    [SuppressMessage("Maintainability", "CA1507", Justification = "\"Name\" is a field of Docker's volume JSON, not this type's Name property.")]
    private async Task ReapStaleAsync(CancellationToken cancellationToken)
    {
        int containers = 0, volumes = 0;
        foreach (var c in await Engine.ListContainersAsync($"{DockerRenderer.ManagedLabel}=1", cancellationToken).ConfigureAwait(false))
        {
            var instance = (string?)c?["Labels"]?[DockerRenderer.InstanceLabel];
            if (instance is null || WardenInstance.IsAlive(instance)) continue;
            await Engine.RemoveContainerAsync((string)c!["Id"]!, cancellationToken).ConfigureAwait(false);
            containers++;
        }
        foreach (var v in await Engine.ListVolumesAsync($"{DockerRenderer.ManagedLabel}=1", cancellationToken).ConfigureAwait(false))
        {
            var instance = (string?)v?["Labels"]?[DockerRenderer.InstanceLabel];
            if (instance is null || WardenInstance.IsAlive(instance)) continue;
            await Engine.RemoveVolumeAsync((string)v!["Name"]!, cancellationToken).ConfigureAwait(false);
            volumes++;
        }
        if (containers + volumes > 0) Log.Reaped(_logger, containers, volumes);
    }

    public BackendStatus Status() => new()
    {
        Backend = Name,
        Instance = Instance,
        CgroupVersion = Cgroups.CgroupHost.Probe().Version,
        Slots = new SlotStatus(_options.MaxConcurrent - _recycler.Quarantined, _ready.Reader.Count, _recycler.Running, _recycler.Quarantined,
            _recycler.Failures),
        Details = new Dictionary<string, string>
        {
            ["runtime"] = _docker.Runtime.Length > 0 ? _docker.Runtime : "default (runc)",
            ["image"] = _docker.Image,
            ["server"] = _serverVersion,
        },
    };

    public async ValueTask DisposeAsync()
    {
        await DisposeSessionsAsync().ConfigureAwait(false);
        await _recycler.DisposeAsync().ConfigureAwait(false);
        Task[] pending;
        lock (_background) pending = [.. _background];
        await Task.WhenAll(pending).ConfigureAwait(false);
        if (_engine is not null)
        {
            _ready.Writer.TryComplete();
            while (_ready.Reader.TryRead(out var keeper)) await RemoveAsync(keeper).ConfigureAwait(false);
            _engine.Dispose();
        }
        lock (_kept)
        {
            foreach (var uid in _kept) uid.Dispose();
            _kept.Clear();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.DockerStarted, LogLevel.Information, "docker backend instance {Instance} ready: {Server}, {Keepers} keepers")]
        public static partial void Started(ILogger logger, string instance, string server, int keepers);

        [LoggerMessage(Diagnostics.EventIds.DockerRemoveFailed, LogLevel.Warning, "Could not remove container or volume {Name}")]
        public static partial void RemoveFailed(ILogger logger, string name, Exception exception);

        [LoggerMessage(Diagnostics.EventIds.ReapedStale, LogLevel.Warning, "Reaped {Containers} containers and {Volumes} volumes of crashed instances")]
        public static partial void Reaped(ILogger logger, int containers, int volumes);
    }
}
