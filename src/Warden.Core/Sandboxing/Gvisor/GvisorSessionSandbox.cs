using System.Diagnostics;
using Warden.Core.Cgroups;
using Warden.Core.Sandboxing.Slots;

namespace Warden.Core.Sandboxing.Gvisor;

/// <summary>
/// A session's gVisor sandbox on its own slot. On the host: the helper exec'd <c>runsc run</c>, which started the gofer
/// and the sandbox (the Sentry), all in the slot's cgroup. Inside gVisor the session's program is the container's first
/// process and everything it starts is below it; the host never sees those as processes, so interrupts go through
/// <c>runsc kill --all</c>, which signals every process of the container inside gVisor and nothing of gVisor itself.
/// </summary>
internal sealed class GvisorSessionSandbox : ISessionSandbox
{
    private readonly GvisorBackend _backend;
    private readonly SandboxSlot _slot;
    private readonly ParkedHelper _helper;
    private readonly GvisorRun _run;
    private readonly string _bundle;
    private readonly StderrTail _errors;
    private int _disposed;

    public GvisorSessionSandbox(GvisorBackend backend, SandboxSlot slot, ParkedHelper helper, GvisorRun run, string bundle)
    {
        _backend = backend;
        _slot = slot;
        _helper = helper;
        _run = run;
        _bundle = bundle;
        // runsc run exits when the container's first process does (and the Sentry with it).
        Exited = helper.Process.WaitForExitAsync();
        _errors = new StderrTail(helper.Stderr);
    }

    /// <summary>The sandbox's egress network and grant, for its whole life; released (grant revoked) when it is destroyed.</summary>
    public Networking.EgressAttachment? Egress { get; set; }

    public Stream Input => _helper.Stdin;

    public Stream Output => _helper.Stdout;

    public Task Exited { get; }

    public string RecentErrors => _errors.Text;

    public async ValueTask InterruptAsync(CancellationToken cancellationToken)
    {
        if (Exited.IsCompleted) return;
        // Before the container exists runsc answers "not found": nothing runs yet that an interrupt could stop.
        await _backend.SignalContainerAsync(_run.ContainerId, "INT", cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask KillAsync(CancellationToken cancellationToken)
    {
        if (_slot.Cgroup is { } cgroup)
        {
            // runsc run, the gofer and the Sentry (with every guest process inside it) are all the cgroup holds. The
            // container record they leave is removed at disposal (DeleteIfLeftAsync), once the cgroup proves them gone.
            await cgroup.KillAllAsync(cancellationToken).ConfigureAwait(false);
            return;
        }
        // Without cgroups (degraded): ask runsc, then make sure of runsc run itself.
        await _backend.SignalContainerAsync(_run.ContainerId, "KILL", cancellationToken).ConfigureAwait(false);
        try { await Exited.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false); }
        catch (TimeoutException) { _helper.Process.Kill(); }
    }

    public void ResetCounters() => _slot.Cgroup?.Baseline();

    /// <summary>The slot cgroup's counters: they include the Sentry and gofer (tens of MB of memory, a little CPU).</summary>
    public CgroupCounters ReadCounters() => _slot.Cgroup?.Read() ?? new CgroupCounters(0, TimeSpan.Zero, 0);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _backend.ForgetSession(this);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try { await KillAsync(timeout.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
        await _helper.DisposeAsync().ConfigureAwait(false);
        try { await _errors.Reading.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); } catch (TimeoutException) { }
        try
        {
            await _backend.DeleteIfLeftAsync(_run.ContainerId, _slot.Cgroup).ConfigureAwait(false);
        }
        finally
        {
            await _slot.DestroyAsync().ConfigureAwait(false);
            GvisorBackend.DeleteBundle(_bundle);
            if (Egress is { } egress) await egress.DisposeAsync().ConfigureAwait(false);
        }
    }
}
