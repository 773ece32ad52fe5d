using Warden.Core.Execution;
using Warden.Core.Sessions;

namespace Warden.Sessions.Tests;

/// <summary>
/// One tenant's session against another's, on whichever backend <see cref="TestBackend"/> names, through what the
/// kernel counts per host uid rather than per namespace: two sessions sharing a host uid share those budgets, so one
/// could exhaust the other's.
/// </summary>
public sealed class SessionCrossTenantAttackTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task PerUidKernelBudgets_ExhaustedByOneSession_AreUntouchedInAnother()
    {
        await using var host = await SessionHost.StartAsync(new() { ["Warden:MaxConcurrent"] = "2" });
        var ct = TestContext.Current.CancellationToken;
        await using var alice = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);
        await using var mallory = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("mallory")), ct).WaitAsync(Wait, ct);

        // inotify instances are counted per host uid (fs.inotify.max_user_instances, 128 by default), whatever the
        // namespaces: mallory takes every one her uid may have and keeps them in the kernel's globals.
        var hog = await mallory.ExecuteAsync(new CellRequest("""
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            held = []
            while len(held) < 100000:
                fd = libc.inotify_init1(0)
                if fd < 0:
                    break
                held.append(fd)
            print('held', len(held), 'errno', ctypes.get_errno())
            """), null, ct).WaitAsync(Wait, ct);
        Assert.True(hog.Status == ExecutionStatus.Success, $"{hog.Status}: {hog.Error?.Name} {hog.Error?.Value}");
        var words = Stdout(hog).Split(' ');
        Assert.Equal("held", words[0]);
        Assert.True(int.Parse(words[1], System.Globalization.CultureInfo.InvariantCulture) > 0, "the attack did not run: " + Stdout(hog));

        var victim = await alice.ExecuteAsync(new CellRequest("""
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(0)
            print('ok' if fd >= 0 else f'errno {ctypes.get_errno()}')
            """), null, ct).WaitAsync(Wait, ct);

        Assert.Equal(ExecutionStatus.Success, victim.Status);
        Assert.True(Stdout(victim) == "ok", $"another tenant's session took alice's inotify budget: {Stdout(victim)} (mallory {Stdout(hog)})");
    }

    private static string Stdout(CellResult result) =>
        string.Concat(result.Outputs.OfType<StreamOutput>().Where(o => o.Name == "stdout").Select(o => o.Text)).Trim();
}
