using Microsoft.Extensions.Logging;

namespace Warden.Core.Sandboxing;

/// <summary>
/// The one owner of the selected backend's start: the only caller of <see cref="ISandboxBackend.StartAsync"/>. The
/// server's hosted start-up, the CLI verbs and the test engines call <see cref="StartAsync"/>; everything that needs a
/// started backend (the engine, the warm pool, sessions, terminals) awaits the same call, which starts it once and
/// afterwards returns at once. Before starting it refuses a backend that cannot serve an enabled surface, naming the
/// setting that turns the surface off.
/// </summary>
public sealed partial class BackendStartup(BackendSelector backends, IEnumerable<SurfaceRequirement> surfaces, ILogger<BackendStartup> logger)
{
    private readonly Lock _gate = new();
    private Task? _start;

    /// <summary>True once the backend started.</summary>
    public bool Started => _start is { IsCompletedSuccessfully: true };

    /// <summary>Starts the selected backend once (again after a start that failed or was cancelled); waits for it.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        Task start;
        lock (_gate)
        {
            if (_start is null || _start.IsFaulted || _start.IsCanceled) _start = StartOnceAsync(cancellationToken);
            start = _start;
        }
        return start.IsCompleted ? start : start.WaitAsync(cancellationToken);
    }

    /// <summary>The started backend's long-lived sandboxes (sessions, kernels, terminals).</summary>
    public async Task<ISessionBackend> SessionsAsync(CancellationToken cancellationToken)
    {
        await StartAsync(cancellationToken).ConfigureAwait(false);
        return backends.Sessions;
    }

    private async Task StartOnceAsync(CancellationToken cancellationToken)
    {
        var backend = backends.Selected;
        Refuse(backend, surfaces);
        await backend.StartAsync(cancellationToken).ConfigureAwait(false);
        Log.Started(logger, backend.Name, backend.Capabilities.ToString());
    }

    /// <summary>Throws, naming each surface and the setting to change, when <paramref name="backend"/> cannot serve it.</summary>
    public static void Refuse(ISandboxBackend backend, IEnumerable<SurfaceRequirement> surfaces)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var unserved = surfaces.Where(s => !backend.Capabilities.Has(s.Needs)).ToList();
        if (unserved.Count == 0) return;
        throw new InvalidOperationException($"The {backend.Name} backend cannot serve " +
            string.Join("; ", unserved.Select(s => $"{s.Surface}: it has no {Words(s.Needs, backend)} (turn it off with {s.TurnOff})")) +
            ". Choose a backend that can with Warden:Backend (WARDEN_BACKEND), or turn the surface off.");
    }

    private static string Words(BackendFeature feature, ISandboxBackend backend) => feature switch
    {
        BackendFeature.LongLivedSandboxes => "long-lived sandboxes",
        BackendFeature.PersistentHomes => "long-lived sandboxes on persistent homes",
        BackendFeature.WarmSandboxes => "warm sandboxes",
        // Every backend that can joins or fills a network namespace as root: bwrap and gVisor through warden-exec's setns,
        // Docker by adding Warden's listener to a keeper's namespace (a local daemon, runc).
        BackendFeature.Egress => "egress network (it needs Warden running as root" +
            (backend.Name == "docker" ? ", the runc runtime and a daemon on this host)" : ")"),
        _ => feature.ToString(),
    };

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.BackendSelected, LogLevel.Information, "Backend {Backend} started: {Capabilities}")]
        public static partial void Started(ILogger logger, string backend, string capabilities);
    }
}
