using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Interop;
using Warden.Core.Sandboxing.Slots;

namespace Warden.Core.Sandboxing.Gvisor;

/// <summary>
/// gVisor: every run is a fresh runsc sandbox (a user-space kernel between the program and the host) from an OCI bundle
/// Warden writes. Slots give it the same uid, cgroup and workspace machinery as bwrap; the helper stays root (runsc
/// needs it) and the program runs as the slot's uid inside gVisor. runsc runs with --ignore-cgroups inside the slot's
/// cgroup, which the helper joined: the pattern that keeps OOM evidence readable after the sandbox is gone.
/// </summary>
public sealed class GvisorBackend : ISandboxBackend, IAsyncDisposable
{
    private readonly WardenOptions _options;
    private readonly GvisorOptions _gvisor;
    private readonly SandboxFilesystemOptions _filesystem;
    private readonly SlotPool _pool;
    private readonly SemaphoreSlim _startLock = new(1, 1);
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
            Layout = GvisorLayout.Create(_pool.RunDirectory, _filesystem, _options.SandboxUidBase, OciSpec.Workspace);
            _started = true;
        }
        finally
        {
            _startLock.Release();
        }
    }

    public async ValueTask<ISandbox> AcquireAsync(CancellationToken cancellationToken)
    {
        if (!_started) await StartAsync(cancellationToken).ConfigureAwait(false);
        var slot = await _pool.AcquireAsync(cancellationToken).ConfigureAwait(false);
        return new GvisorSandbox(this, _pool, slot);
    }

    internal string NextContainerId(string slot) =>
        $"warden-{_pool.Instance}-{slot}-{Interlocked.Increment(ref _runs).ToString(CultureInfo.InvariantCulture)}";

    internal string BundleDirectory(string slot) => Path.Combine(_pool.RunDirectory, $"bundle-{slot}");

    public IReadOnlyDictionary<string, string> Describe() => new Dictionary<string, string>(_pool.Describe())
    {
        ["backend"] = Name,
        ["platform"] = Platform.Length > 0 ? Platform : RunscProbe.ChoosePlatform(_gvisor),
        ["runtime"] = RunscProbe.Version(_gvisor.RunscPath),
    };

    public ValueTask DisposeAsync() => _pool.DisposeAsync();
}
