using System.Globalization;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Warden.Core.Execution;
using Warden.Core.Interop;
using Warden.Core.Sandboxing.Slots;
using Warden.Core.State;

namespace Warden.Core.Sandboxing.Docker;

/// <summary>
/// Long-lived session sandboxes: a container per session, never from the keeper pool, with the keeper's hardening and
/// the session's limits; the program is the container's own process. Removed with its workspace volume on dispose; a
/// dead instance's are reaped at start-up by their instance label like any keeper.
/// </summary>
public sealed partial class DockerBackend
{
    private readonly HashSet<DockerSessionSandbox> _sessions = [];
    private string? _runDirectory;
    private string? _uidLocks;

    public async ValueTask<ISessionSandbox> StartSessionAsync(SessionSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        // Under another OCI runtime (runsc) the container's cgroup holds the runtime's processes, not the program's, so
        // neither interrupts nor the counters below would reach the kernel; gVisor sessions are the gvisor backend's. The
        // capabilities say so, and start-up refuses the surfaces that need sessions: this is a guard, not a per-request answer.
        if (_docker.Runtime.Length > 0)
            throw new InvalidOperationException($"The docker backend runs sessions with the daemon's default runtime only, not '{_docker.Runtime}'; " +
                "use Warden:Backend=gvisor for sessions under gVisor.");
        if (!_started) throw new InvalidOperationException("The docker backend is not started: BackendStartup.StartAsync starts it.");
        var support = spec.SupportFiles.Count > 0 ? SupportDirectory(spec.SupportFiles) : null;
        var n = Interlocked.Increment(ref _containers).ToString(CultureInfo.InvariantCulture);
        var name = $"warden-{Instance}-session-{ContainerNamePart(spec.Name)}-{n}";
        // Every session runs under a host uid of its own, as a bwrap slot does: a persistent workspace (a user's home)
        // under the home's uid, which belongs to that workspace alone, so the home's permissions are the user's; any
        // other under a uid leased from the sandbox range. Without a user namespace the kernel counts some budgets per
        // host uid whatever the namespaces (inotify instances, pipe buffer pages, message queues): sessions sharing
        // the keeper user would share them, and one tenant could exhaust another's.
        var lease = spec.Workspace is { } home ? UidLease.AcquireExact(UidLocks(), home.Uid)
            : UidLease.Acquire(UidLocks(), _options.SandboxUidBase, _options.SandboxUidCount);
        var gid = spec.Workspace?.HostGid ?? lease.Uid;
        var user = $"{lease.Uid.ToString(CultureInfo.InvariantCulture)}:{gid.ToString(CultureInfo.InvariantCulture)}";
        string? volume = spec.Workspace is null ? name + "-ws" : null;
        string? id = null;
        NetworkStream? stdio = null;
        Networking.EgressNetwork? network = null;
        // The daemon finishes a create or start its client abandoned: a call cancelled half-way leaves a container (a
        // kernel nobody owns) or a volume behind. So each call runs to its end, bounded, and the caller's token is
        // honoured between them, where everything made so far has a name to remove.
        using var bounded = new CancellationTokenSource(DaemonCallTimeout);
        var daemon = bounded.Token;
        try
        {
            if (volume is not null)
                await Engine.CreateVolumeAsync(DockerSessionSpec.Volume(volume, Instance, spec.Name, spec.Limits.WorkspaceBytes, user), daemon)
                    .ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            id = await Engine.CreateContainerAsync(name,
                DockerSessionSpec.Container(_docker.Image, user, volume, support, Instance, spec, _docker.Runtime,
                    // The bundle as it is now, for the container's life: it trusts the signing CA for at least a rotation period.
                    spec.Limits.Network ? spec.Command.Egress?.Proxy.Trust?.FilesForNewSandbox() : null), daemon).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            // Attach before start: the program's first line (a kernel's "ready") may come at once.
            stdio = await Engine.AttachAsync(id, daemon).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            await Engine.StartAsync(id, daemon).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            var state = await Engine.InspectAsync(id, daemon).ConfigureAwait(false);
            int initPid = (int?)state?["State"]?["Pid"] ?? 0;
            // Egress: Warden's listener in the container's own namespace ("none"), served for the session's grant for its
            // whole life. The program reads its first cell only after this returns, so no user code runs before it.
            if (spec.Limits.Network)
                network = await KeeperNetworkAsync(id, initPid, daemon).ConfigureAwait(false);
            var egress = network is null ? null : Networking.EgressAttachment.ForLife(network,
                spec.Command.Egress ?? throw new InvalidOperationException("A long-lived sandbox granted network needs its egress grant."));
            network = null;
            var sandbox = new DockerSessionSandbox(this, id, volume, stdio, initPid, DockerKeeper.FindCgroup(id), lease) { Egress = egress };
            lock (_sessions) _sessions.Add(sandbox);
            return sandbox;
        }
        catch (DockerException e) when (e.Refused && id is null)
        {
            // The daemon refuses some limits outright (memory below its 6 MB minimum): this session's sandbox cannot
            // exist, which is a failed start for the session's own limits, not a server error.
            stdio?.Dispose();
            Release(lease, await RemoveSessionAsync(name, volume).ConfigureAwait(false));
            throw new KernelStartException($"The docker daemon refused the session's sandbox: {e.Message}");
        }
        catch
        {
            // Never leave a half-built sandbox: no container, no volume, no connection. Without an id (the create failed or
            // timed out) the container is removed by its name, in case the daemon made it all the same.
            stdio?.Dispose();
            network?.Dispose();
            Release(lease, await RemoveSessionAsync(id ?? name, volume).ConfigureAwait(false));
            throw;
        }
    }

    /// <summary>Docker names allow [a-zA-Z0-9_.-]; a session's name is Warden's own, but make sure.</summary>
    private static string ContainerNamePart(string name) =>
        new([.. name.Take(64).Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-' ? c : '-')]);

    internal void ForgetSession(DockerSessionSandbox sandbox)
    {
        lock (_sessions) _sessions.Remove(sandbox);
    }

    /// <summary>
    /// Removes a session's container (killing it) and then its volume; failures are logged, never thrown. False when
    /// something may be left: the session's uid is then kept (never leased again by this instance), as a quarantined slot's is.
    /// </summary>
    internal async Task<bool> RemoveSessionAsync(string? id, string? volume)
    {
        try
        {
            if (id is not null) await Engine.RemoveContainerAsync(id, CancellationToken.None).ConfigureAwait(false);
            if (volume is not null) await Engine.RemoveVolumeAsync(volume, CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is IOException or HttpRequestException or InvalidOperationException)
        {
            Log.RemoveFailed(_logger, id ?? volume ?? "", e);
            return false;
        }
    }

    /// <summary>A session's uid once its container is gone: released, or kept until shutdown when something may be left.</summary>
    internal void Release(UidLease uid, bool removed)
    {
        if (removed) uid.Dispose();
        else Keep(uid);
    }

    /// <summary>{state}/uids: the flock files of the sandbox uids, shared with the slot backends (prepared once).</summary>
    private string UidLocks()
    {
        if (_uidLocks is { } prepared) return prepared;
        var locks = Path.Combine(StateDirectory.Prepare(_options.StateDirectory), "uids");
        StateDirectory.EnsureDirectory(locks, StateDirectory.PrivateMode);
        return _uidLocks = locks;
    }

    /// <summary>Session containers still alive at shutdown: removed before the engine connection closes.</summary>
    private async Task DisposeSessionsAsync()
    {
        DockerSessionSandbox[] alive;
        lock (_sessions) alive = [.. _sessions];
        foreach (var sandbox in alive) await sandbox.DisposeAsync().ConfigureAwait(false);
        try { if (_runDirectory is not null) Directory.Delete(_runDirectory, recursive: true); } catch (IOException) { }
    }

    /// <summary>
    /// The support files' directory in this instance's run directory on the host, bound read-only. The daemon binds host
    /// paths, so this needs the daemon on this host, as the unix socket implies.
    /// </summary>
    private string SupportDirectory(IReadOnlyDictionary<string, byte[]> files) => SessionSupportFiles.Directory(RunDirectory(), files);

    /// <summary>
    /// {state}/run/{instance}, as the slot backends have it (so a dead instance's is reaped the same way, here too
    /// when the first session starts), traversable by sandbox users.
    /// </summary>
    private string RunDirectory()
    {
        if (_runDirectory is not null) return _runDirectory;
        var state = StateDirectory.Prepare(_options.StateDirectory);
        var runRoot = Path.Combine(state, "run");
        StateDirectory.EnsureDirectory(runRoot, StateDirectory.TraversableMode);
        StaleInstances.Reap(state, _logger);
        var run = Path.Combine(runRoot, Instance);
        StateDirectory.EnsureDirectory(run, StateDirectory.TraversableMode);
        return _runDirectory = run;
    }
}
