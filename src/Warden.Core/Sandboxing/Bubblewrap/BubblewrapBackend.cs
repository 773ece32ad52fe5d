using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Cgroups;
using Warden.Core.Interop;
using Warden.Core.Sandboxing.Seccomp;

namespace Warden.Core.Sandboxing.Bubblewrap;

/// <summary>
/// The embedded default: bubblewrap namespaces + a seccomp filter + cgroups + rlimits, no daemon. Keeps one slot per
/// allowed concurrent execution, each with a helper already parked in its cgroup, so a request pays only for bwrap and
/// the program itself.
/// </summary>
public sealed partial class BubblewrapBackend : ISandboxBackend, IAsyncDisposable
{
    private readonly WardenOptions _options;
    private readonly BubblewrapOptions _bwrap;
    private readonly Limits.LimitsOptions _limits;
    private readonly ILogger<BubblewrapBackend> _logger;
    private readonly Channel<SandboxSlot> _free = Channel.CreateUnbounded<SandboxSlot>();
    private readonly List<SandboxSlot> _slots = [];
    private readonly SemaphoreSlim _startLock = new(1, 1);
    private readonly string _instance = WardenInstance.NewName();
    private ICgroupTree? _cgroups;
    private CgroupSupport? _cgroupSupport;
    private string _runDirectory = "";
    private string _seccompNoNet = "", _seccompNet = "";
    private bool _started;

    public BubblewrapBackend(IOptions<WardenOptions> options, IOptions<BubblewrapOptions> bwrap, IOptions<Limits.LimitsOptions> limits, ILogger<BubblewrapBackend> logger)
    {
        _options = options.Value;
        _bwrap = bwrap.Value;
        _limits = limits.Value;
        _logger = logger;
        HelperPath = _options.ExecHelperPath ?? Path.Combine(AppContext.BaseDirectory, "warden-exec");
    }

    public string Name => "bwrap";

    internal string BwrapPath => _bwrap.BwrapPath;

    internal string HelperPath { get; }

    internal BwrapLayout Layout { get; private set; } = null!;

    internal string SeccompProgram(bool network) => network ? _seccompNet : _seccompNoNet;

    /// <summary>True when sandboxes run without cgroup limits (only with Warden:AllowDegraded).</summary>
    public bool Degraded => _cgroups is null;

    public BackendProbe Probe() => BubblewrapProbe.Run(_bwrap.BwrapPath, HelperPath);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _startLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_started) return;
            var probe = Probe();
            if (!probe.CanRun)
                throw new InvalidOperationException("The bwrap backend cannot run on this host: " +
                    string.Join("; ", probe.Checks.Where(c => !c.Ok && c.Required).Select(c => $"{c.Name}: {c.Detail}. Fix: {c.Fix}")) +
                    " (run `warden doctor` for details)");

            bool root = Libc.geteuid() == 0;
            var state = _options.StateDirectory;
            _runDirectory = Path.Combine(state, "run", _instance);
            Directory.CreateDirectory(_runDirectory);
            ReapStaleInstances(state);

            _cgroupSupport = CgroupHost.Probe();
            if (_cgroupSupport.Usable) _cgroups = CgroupHost.Open(_cgroupSupport, _instance);
            else if (!_options.AllowDegraded)
                throw new InvalidOperationException($"Cgroups cannot be used ({_cgroupSupport.Detail}), so memory, process and CPU limits " +
                    "cannot be enforced. Fix the host (see `warden doctor`) or set Warden:AllowDegraded=true (WARDEN_ALLOW_DEGRADED=true) to run without them.");
            else Log.RunningDegraded(_logger, _cgroupSupport.Detail);

            _seccompNoNet = Path.Combine(_runDirectory, "seccomp-nonet.bpf");
            _seccompNet = Path.Combine(_runDirectory, "seccomp-net.bpf");
            SeccompCompiler.Compile(_seccompNoNet, allowInet: false);
            SeccompCompiler.Compile(_seccompNet, allowInet: true);
            Layout = CreateLayout(_runDirectory);

            var starts = new List<Task>();
            for (int i = 0; i < _options.MaxConcurrent; i++)
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
            Log.Started(_logger, _instance, _slots.Count, _cgroups?.Version ?? "none", root);
        }
        finally
        {
            _startLock.Release();
        }
    }

    public async ValueTask<ISandbox> AcquireAsync(CancellationToken cancellationToken)
    {
        if (!_started) await StartAsync(cancellationToken).ConfigureAwait(false);
        var slot = await _free.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return new BwrapSandbox(this, slot);
    }

    /// <summary>A slot's host resources: its own uid (when root), cgroup and workspace path. The caller owns it.</summary>
    internal SandboxSlot CreateSlot(string name)
    {
        UidLease? lease = Libc.geteuid() == 0
            ? UidLease.Acquire(Path.Combine(_options.StateDirectory, "uids"), _options.SandboxUidBase, _options.SandboxUidCount)
            : null;
        try
        {
            return new SandboxSlot(name, lease?.Uid, lease, _cgroups?.Create(name), Path.Combine(_runDirectory, "ws-" + name),
                (long)_limits.WorkspaceMb << 20);
        }
        catch
        {
            lease?.Dispose();
            throw;
        }
    }

    internal Task<ParkedHelper> ParkAsync(SandboxSlot slot) =>
        ParkedHelper.StartAsync(HelperPath, slot.Uid, slot.Cgroup?.ProcsFiles ?? []);

    /// <summary>The NUL-separated control block that turns a parked helper into bwrap running <paramref name="command"/>.</summary>
    internal byte[] ControlBlock(SandboxSlot slot, Limits.ResourceLimits limits, SandboxCommand command,
        IReadOnlyList<(string Source, string Target)>? readOnlyBinds)
    {
        var fields = new List<string>(BwrapArguments.Rlimits(limits)) { "seccomp=" + SeccompProgram(limits.Network), "--", BwrapPath };
        fields.AddRange(BwrapArguments.Build(Layout, slot.HostWorkspace, limits, command, readOnlyBinds));
        var block = new System.Text.StringBuilder();
        foreach (var field in fields)
        {
            if (field.Contains('\0')) throw new Execution.InvalidRequestException("Arguments and environment must not contain NUL characters.");
            block.Append(field).Append('\0');
        }
        return System.Text.Encoding.UTF8.GetBytes(block.ToString());
    }

    /// <summary>Returns a slot to the pool, clean: no process, an empty workspace, a helper parked for the next run.</summary>
    internal async Task ReleaseAsync(SandboxSlot slot)
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
            Log.SlotRecycleFailed(_logger, slot.Name, e);
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
        ["backend"] = Name,
        ["mode"] = Libc.geteuid() == 0 ? "per-slot host uid" : "service uid (not root)",
        ["cgroup_version"] = _cgroups?.Version ?? _cgroupSupport?.Version ?? "unknown",
        ["degraded"] = (_started && _cgroups is null) ? "true" : "false",
        ["slots"] = _slots.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["instance"] = _instance,
    };

    private BwrapLayout CreateLayout(string runDirectory)
    {
        var passwd = Path.Combine(runDirectory, "passwd");
        var group = Path.Combine(runDirectory, "group");
        var hosts = Path.Combine(runDirectory, "hosts");
        File.WriteAllText(passwd, $"root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{BwrapArguments.SandboxUid}:{BwrapArguments.SandboxUid}:sandbox:{BwrapArguments.Workspace}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
        File.WriteAllText(group, $"root:x:0:\nsandbox:x:{BwrapArguments.SandboxUid}:\nnogroup:x:65534:\n");
        File.WriteAllText(hosts, "127.0.0.1 localhost sandbox\n::1 localhost ip6-localhost\n");
        foreach (var f in new[] { passwd, group, hosts }) Libc.chmod(f, Convert.ToInt32("644", 8));
        var dirs = new List<string>();
        var links = new List<(string, string)>();
        foreach (var dir in _bwrap.ReadOnlyDirectories) dirs.Add(dir);
        // Merged-/usr hosts have /bin -> usr/bin etc.: recreate the links; older layouts get read-only binds.
        foreach (var top in new[] { "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32" })
        {
            var info = new FileInfo(top);
            if (info.LinkTarget is { } target) links.Add((target, top));
            else if (Directory.Exists(top)) dirs.Add(top);
        }
        return new BwrapLayout(passwd, group, hosts, dirs, links, _bwrap.ReadOnlyPathsIfPresent.ToList());
    }

    /// <summary>Removes what instances that died without cleaning up (kill -9, power loss) left: cgroups, mounts, directories.</summary>
    private void ReapStaleInstances(string state)
    {
        var runRoot = Path.Combine(state, "run");
        int cgroups = CgroupHost.ReapStale(CgroupHost.Probe(), WardenInstance.IsAlive);
        int mounts = 0, dirs = 0;
        foreach (var mountPoint in MountPointsUnder(runRoot))
        {
            var instance = Path.GetRelativePath(runRoot, mountPoint).Split('/')[0];
            if (WardenInstance.IsAlive(instance)) continue;
            if (Libc.umount2(mountPoint, Libc.MNT_DETACH) == 0) mounts++;
        }
        foreach (var dir in Directory.GetDirectories(runRoot))
        {
            if (WardenInstance.IsAlive(Path.GetFileName(dir))) continue;
            try { Directory.Delete(dir, recursive: true); dirs++; } catch (IOException) { }
        }
        if (cgroups + mounts + dirs > 0) Log.ReapedStale(_logger, cgroups, mounts, dirs);
    }

    internal static IEnumerable<string> MountPointsUnder(string root)
    {
        var prefix = root.TrimEnd('/') + "/";
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            if (fields.Length > 4 && fields[4].StartsWith(prefix, StringComparison.Ordinal)) yield return fields[4];
        }
    }

    public async ValueTask DisposeAsync()
    {
        await DisposeSessionsAsync().ConfigureAwait(false);
        foreach (var slot in _slots) await slot.DestroyAsync().ConfigureAwait(false);
        _slots.Clear();
        _cgroups?.Dispose();
        try { if (_runDirectory.Length > 0) Directory.Delete(_runDirectory, recursive: true); } catch (IOException) { }
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.BackendStarted, LogLevel.Information, "bwrap backend instance {Instance} ready: {Slots} slots, cgroups {CgroupVersion}, root {Root}")]
        public static partial void Started(ILogger logger, string instance, int slots, string cgroupVersion, bool root);

        [LoggerMessage(Diagnostics.EventIds.RunningDegraded, LogLevel.Warning, "Running DEGRADED without cgroup limits: {Reason}")]
        public static partial void RunningDegraded(ILogger logger, string reason);

        [LoggerMessage(Diagnostics.EventIds.ReapedStale, LogLevel.Warning, "Reaped leftovers of crashed instances: {Cgroups} cgroups, {Mounts} mounts, {Directories} directories")]
        public static partial void ReapedStale(ILogger logger, int cgroups, int mounts, int directories);

        [LoggerMessage(Diagnostics.EventIds.SlotRecycleFailed, LogLevel.Error, "Recycling sandbox slot {Slot} failed; retrying")]
        public static partial void SlotRecycleFailed(ILogger logger, string slot, Exception exception);
    }
}
