using System.Globalization;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Security;

/// <summary>
/// One execution against another running at the same time, through what the kernel counts per host uid whatever the
/// namespaces (inotify instances: fs.inotify.max_user_instances, 128 by default; pipe buffer pages; message queue
/// bytes). Two sandboxes under one host uid share those budgets, so one tenant's program could exhaust another's.
/// </summary>
[Collection(nameof(SandboxCollection))]
public sealed class PerUidBudgetTests(SandboxEngines engines)
{
    /// <summary>Takes every inotify instance its uid may have, says how many, then holds them (inherited by sleep) under a marker.</summary>
    private const string Hog = """
        import ctypes, os, resource, sys
        libc = ctypes.CDLL(None, use_errno=True)
        fds = []
        while len(fds) < 100000:
            fd = libc.inotify_init1(0)
            if fd < 0:
                break
            fds.append(fd)
        print('held', len(fds), 'errno', ctypes.get_errno(), flush=True)
        # Stopped by the open-files limit rather than a per-uid budget (gVisor counts instances in its own kernel): exec
        # needs a few descriptors back to load sleep. A per-uid budget (128 here) stops far below the limit, untouched.
        if len(fds) + 16 >= resource.getrlimit(resource.RLIMIT_NOFILE)[0]:
            for fd in fds[-8:]:
                os.close(fd)
        os.execv('/bin/sleep', [sys.argv[1], sys.argv[2]])
        """;

    /// <summary>Asks for one inotify instance, says whether it got it, then waits under a marker for the host to see its uid.</summary>
    private const string Victim = """
        import ctypes, os, sys
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(0)
        print('ok' if fd >= 0 else f'errno {ctypes.get_errno()}', flush=True)
        os.execv('/bin/sleep', [sys.argv[1], sys.argv[2]])
        """;

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_ConcurrentRuns_HaveOwnHostUidsAndPerUidBudgets(string backend)
    {
        var engine = engines[backend].Engine;
        // bwrap's slots have uids of their own only as root (README: PerSlotUids); every other backend always.
        if (backend == "bwrap" && !Environment.IsPrivilegedProcess)
            Assert.Skip("bwrap not run as root: its slots share the service's uid, which the capabilities say (per-slot uids no).");
        var ct = TestContext.Current.CancellationToken;
        var traits = BackendTraits.For(backend);
        var limits = new LimitRequest { TimeoutSeconds = 30 };
        var hogMarker = $"inotify-hog-{Guid.NewGuid():N}";
        var victimMarker = $"inotify-victim-{Guid.NewGuid():N}";

        // The hog holds every instance until the victim has asked for its own (the victim ends first).
        var hog = engine.RunAsync(Run.Python(Hog, [hogMarker, "12"], limits: limits));
        int[]? hogUids = null;
        if (traits.ProgramsAreHostProcesses) hogUids = HostProcesses.Uids(await HostProcesses.WaitForAsync(hogMarker, TimeSpan.FromSeconds(30), ct));
        // A gVisor program is not a host process to wait for: give its sandbox time to boot and take the instances.
        else await Task.Delay(TimeSpan.FromSeconds(4), ct);

        var victim = engine.RunAsync(Run.Python(Victim, [victimMarker, "2"], limits: limits));
        int[]? victimUids = null;
        if (traits.ProgramsAreHostProcesses) victimUids = HostProcesses.Uids(await HostProcesses.WaitForAsync(victimMarker, TimeSpan.FromSeconds(30), ct));
        var victimResult = await victim;
        var hogResult = await hog;

        Run.AssertStatus(ExecutionStatus.Success, hogResult);
        Run.AssertStatus(ExecutionStatus.Success, victimResult);
        // The attack ran: it took instances until the kernel said no (EMFILE: the uid's budget, or the open files limit).
        var words = hogResult.Run.Stdout.Trim().Split(' ');
        Assert.True(words is ["held", _, "errno", "24"] && int.Parse(words[1], CultureInfo.InvariantCulture) > 0,
            "the hog did not exhaust its inotify instances: " + hogResult.Run.Stdout);
        var uids = $"host uids: hog {Show(hogUids)}, victim {Show(victimUids)}";
        Assert.True(victimResult.Run.Stdout.Trim() == "ok",
            $"another execution took this one's inotify budget: {victimResult.Run.Stdout.Trim()} (hog: {hogResult.Run.Stdout.Trim()}; {uids})");
        if (traits.ProgramsAreHostProcesses)
        {
            Assert.NotNull(hogUids);
            Assert.NotNull(victimUids);
            Assert.False(hogUids.Intersect(victimUids).Any(), "two concurrent executions share a host uid: " + uids);
        }
        // What the backend declares holds, and it declares what holds.
        Assert.True(engine.Backend.Capabilities.PerSlotUids, $"{backend} gives each sandbox its own uid but declares PerSlotUids=false");
    }

    private static string Show(int[]? uids) => uids is null ? "(not a host process)" : string.Join(',', uids.Distinct());
}
