using System.Diagnostics;
using Warden.Core.Sandboxing.Slots;
using Warden.Core.Sandboxing.Spec;
using Warden.Core.State;

namespace Warden.Core.Sandboxing.Gvisor;

/// <summary>
/// Long-lived session sandboxes: a dedicated slot per sandbox, one <c>runsc run</c> whose container process is the
/// session's program (a kernel driver, the terminal agent), its stdio the session's pipes. Created here, destroyed by
/// <see cref="GvisorSessionSandbox.DisposeAsync"/>.
/// </summary>
public sealed partial class GvisorBackend
{
    private readonly HashSet<GvisorSessionSandbox> _sessions = [];
    private readonly Lock _mountPointLock = new();

    public async ValueTask<ISessionSandbox> StartSessionAsync(SessionSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        EnsureStarted();
        var workspace = spec.Workspace?.SandboxPath ?? SandboxSpecBuilder.DefaultWorkspace;
        RequireMountPoint(workspace);
        if (spec.SupportFiles.Count > 0) RequireMountPoint(spec.SupportDirectory);

        var slot = _pool.CreateSlot("session-" + spec.Name, spec.Workspace);
        var bundle = BundleDirectory(slot.Name);
        GvisorSessionSandbox? sandbox = null;
        GvisorRun? run = null;
        Networking.EgressAttachment? egress = null;
        try
        {
            // Egress: a namespace of the sandbox's own, served for its grant until the sandbox is destroyed.
            egress = await Networking.EgressAttachment.ForSessionAsync(spec, cancellationToken).ConfigureAwait(false);
            slot.ResetWorkspace();
            var uid = slot.Uid ?? throw new InvalidOperationException("gVisor slots need a sandbox uid (run as root).");
            // The Sentry and gofer are charged to the slot's cgroup with the program: they get their overhead on top.
            slot.Cgroup?.Apply(CgroupLimits(spec.Limits, _gvisor));
            IReadOnlyList<ReadOnlyBind>? support = spec.SupportFiles.Count > 0
                ? [new ReadOnlyBind(SessionSupportFiles.Directory(_pool.RunDirectory, spec.SupportFiles), spec.SupportDirectory)]
                : null;
            // The session's own /etc identity (its uid named, the workspace its home) in place of the shared one.
            var sandboxSpec = Spec(slot, spec.Limits, spec.Command, support, workspace, uid: uid, gid: slot.Gid, shared: Layout.Base(WriteIdentity(bundle, uid, workspace)),
                egress: egress?.Endpoint);
            run = await PrepareRunAsync(slot, sandboxSpec, report: null, cancellationToken, session: true,
                sharedWorkspace: spec.Workspace?.Gid is not null).ConfigureAwait(false);
            var helper = await _pool.ParkAsync(slot).ConfigureAwait(false);
            sandbox = new GvisorSessionSandbox(this, slot, helper, run, bundle) { Egress = egress };
            egress = null;
            lock (_sessions) _sessions.Add(sandbox);
            await helper.LaunchAsync(SlotRun.Encode(run.Control)).ConfigureAwait(false);
            return sandbox;
        }
        catch
        {
            // Never leave a half-built sandbox: the session sandbox owns the slot and the bundle once it exists.
            if (sandbox is not null) await sandbox.DisposeAsync().ConfigureAwait(false);
            else
            {
                await slot.DestroyAsync().ConfigureAwait(false);
                DeleteBundle(bundle);
            }
            if (egress is not null) await egress.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    internal void ForgetSession(GvisorSessionSandbox sandbox)
    {
        lock (_sessions) _sessions.Remove(sandbox);
    }

    /// <summary>Session sandboxes still alive at shutdown: destroyed before the slots, cgroups and run directory.</summary>
    private async Task DisposeSessionsAsync()
    {
        GvisorSessionSandbox[] alive;
        lock (_sessions) alive = [.. _sessions];
        foreach (var sandbox in alive) await sandbox.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// The root is read-only, so gVisor cannot create a mount point: an empty directory must already be in the shared
    /// skeleton. Only under the skeleton's own directories: a path below a host bind (/usr/…) or a top-level link (/bin)
    /// would need the host's directory to have it, and is refused instead.
    /// </summary>
    private void RequireMountPoint(string path)
    {
        if (!path.StartsWith('/') || path.Length < 2 || path.Split('/').Any(part => part is "." or ".."))
            throw new ArgumentException($"A session mount point must be an absolute path without '.' or '..' (got '{path}').");
        var taken = Layout.ReadOnlyBinds.Concat(Layout.Files.Select(f => f.Destination))
            .Concat(SandboxFilesystemOptions.TopLevel().Links.Select(l => l.Link)).Concat(["/proc", "/dev", "/tmp", "/etc"]);
        foreach (var bound in taken)
        {
            if (path == bound || path.StartsWith(bound.TrimEnd('/') + "/", StringComparison.Ordinal))
                throw new ArgumentException($"A session mount point cannot be at or below {bound} (got '{path}').");
        }
        lock (_mountPointLock) ReadableFiles.CreateDirectory(Path.Combine(Layout.RootFs, path.TrimStart('/')));
    }

    /// <summary>The session's /etc/passwd, /etc/group and /etc/hosts in its bundle: its uid named, the workspace its home.</summary>
    private static List<(string Source, string Destination)> WriteIdentity(string bundle, int uid, string home)
    {
        var etc = Path.Combine(bundle, "etc");
        ReadableFiles.CreateDirectory(etc);
        string[] names = ["passwd", "group", "hosts"];
        SandboxIdentity.WriteFiles(Path.Combine(etc, names[0]), Path.Combine(etc, names[1]), Path.Combine(etc, names[2]), uid, home);
        return [.. names.Select(name => (Path.Combine(etc, name), "/etc/" + name))];
    }

    internal static void DeleteBundle(string bundle)
    {
        try { Directory.Delete(bundle, recursive: true); }
        catch (DirectoryNotFoundException) { }
    }

    /// <summary>
    /// <c>runsc kill --all ID SIGNAL</c>: the signal to every process of the container, inside gVisor (never the Sentry,
    /// gofer or runsc). A container that is already gone, or not yet there, is not an error: nothing is left to signal.
    /// </summary>
    internal async Task SignalContainerAsync(string id, string signal, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(_gvisor.RunscPath) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "--root", StateRoot, "kill", "--all", id, signal }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        var drain = Task.WhenAll(process.StandardOutput.ReadToEndAsync(timeout.Token), process.StandardError.ReadToEndAsync(timeout.Token));
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            await drain.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            throw;
        }
    }
}
