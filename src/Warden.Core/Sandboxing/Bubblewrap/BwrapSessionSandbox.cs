using System.Globalization;
using System.Text;
using System.Text.Json;
using Warden.Core.Cgroups;
using Warden.Core.Interop;
using Warden.Core.Processes;
using Warden.Core.Sandboxing.Slots;

namespace Warden.Core.Sandboxing.Bubblewrap;

/// <summary>
/// A session's bwrap sandbox on its own slot. Process tree on the host: the helper (the subreaper), its child bwrap,
/// bwrap's child the pid-1 init inside the new pid namespace (reported on the JSON status fd), and everything below
/// that init is the program: only those get interrupts.
/// </summary>
internal sealed class BwrapSessionSandbox : ISessionSandbox
{
    private readonly BubblewrapBackend _backend;
    private readonly SandboxSlot _slot;
    private readonly ParkedHelper _helper;
    private readonly TaskCompletionSource<int> _initPid = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly StderrTail _errors;
    private readonly Task _statusReader;
    private int _disposed;

    public BwrapSessionSandbox(BubblewrapBackend backend, SandboxSlot slot, ParkedHelper helper)
    {
        _backend = backend;
        _slot = slot;
        _helper = helper;
        Exited = helper.Process.WaitForExitAsync();
        _statusReader = ReadStatusAsync(helper.Status);
        _errors = new StderrTail(helper.Stderr);
    }

    /// <summary>The sandbox's egress network and grant, for its whole life; released (grant revoked) when it is destroyed.</summary>
    public Networking.EgressAttachment? Egress { get; set; }

    public Stream Input => _helper.Stdin;

    public Stream Output => _helper.Stdout;

    public Task Exited { get; }

    public string RecentErrors => _errors.Text;

    public ValueTask InterruptAsync(CancellationToken cancellationToken)
    {
        if (!_initPid.Task.IsCompletedSuccessfully || Exited.IsCompleted) return ValueTask.CompletedTask;
        int init = _initPid.Task.Result;
        // Never the helper or bwrap: SIGINT would end the whole session, not the cell.
        var spared = new HashSet<int>(ProcessTree.Children(_helper.Process.Pid)) { init, _helper.Process.Pid };
        if (_slot.Cgroup is { } cgroup)
        {
            // Pinned by pidfd and checked against the cgroup again: a pid freed and reused by a host process in between is not signalled.
            CgroupSignals.SignalMembers(CgroupSignals.Reader([cgroup.ProcsFiles[0]]), Libc.SIGINT, spared.Contains);
            return ValueTask.CompletedTask;
        }
        foreach (var pid in ProcessTree.Descendants(init)) Libc.kill(pid, Libc.SIGINT);
        return ValueTask.CompletedTask;
    }

    public async ValueTask KillAsync(CancellationToken cancellationToken)
    {
        if (_slot.Cgroup is not { } cgroup)
        {
            _helper.Process.Kill();
            return;
        }
        // Spare the helper: it reaps the sandbox's processes (no zombies for the host's init), then exits by itself.
        await cgroup.KillAllButAsync([_helper.Process.Pid], cancellationToken).ConfigureAwait(false);
        try { await _helper.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false); }
        catch (TimeoutException) { _helper.Process.Kill(); }
        await cgroup.KillAllAsync(cancellationToken).ConfigureAwait(false);
    }

    public void ResetCounters() => _slot.Cgroup?.Baseline();

    public CgroupCounters ReadCounters() => _slot.Cgroup?.Read() ?? new CgroupCounters(0, TimeSpan.Zero, 0);

    /// <summary>bwrap's --json-status-fd: <c>{"child-pid": N}</c> once the namespaces exist.</summary>
    private async Task ReadStatusAsync(Stream status)
    {
        try
        {
            using var reader = new StreamReader(status, Encoding.UTF8, leaveOpen: true);
            while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                foreach (var doc in line.Replace("}{", "}\n{", StringComparison.Ordinal).Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    using var json = JsonDocument.Parse(doc);
                    if (json.RootElement.TryGetProperty("child-pid", out var pid)) _initPid.TrySetResult(pid.GetInt32());
                }
            }
        }
        catch (Exception e) when (e is IOException or JsonException or ObjectDisposedException)
        {
        }
        _initPid.TrySetCanceled();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _backend.ForgetSession(this);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try { await KillAsync(timeout.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
        await _helper.DisposeAsync().ConfigureAwait(false);
        await Task.WhenAll(_statusReader, _errors.Reading).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        await _slot.DestroyAsync().ConfigureAwait(false);
        if (Egress is { } egress) await egress.DisposeAsync().ConfigureAwait(false);
    }
}
