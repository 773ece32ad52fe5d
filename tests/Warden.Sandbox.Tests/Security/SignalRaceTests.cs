using System.Diagnostics;
using Warden.Core.Cgroups;
using Warden.Core.Interop;

namespace Warden.Sandbox.Tests.Security;

/// <summary>
/// The host signals a sandbox's processes by the pids its cgroup lists (interrupts of a session's cell, the kill loop
/// that empties a slot). A sandbox controls when its processes exit, and pids are reused (pid_max is 32768 here and on
/// many hosts): between the read and the signal, a listed pid may come to belong to a host process. The pids lists
/// below replay that race exactly: a real host process, listed when the cgroup is first read, gone from it on every
/// later read, as a member that exited and whose pid a host process took.
/// </summary>
public sealed class SignalRaceTests
{
    [Theory]
    [InlineData(Libc.SIGINT)]
    [InlineData(Libc.SIGKILL)]
    public async Task APidThatLeftTheCgroupBeforeTheSignal_IsNeverSignalled(int signal)
    {
        using var host = Process.Start(new ProcessStartInfo("/usr/bin/sleep", "300") { UseShellExecute = false })!;
        try
        {
            int reads = 0;
            IReadOnlyCollection<int> Procs() => Interlocked.Increment(ref reads) == 1 ? [host.Id] : [];

            int sent = CgroupSignals.SignalMembers(Procs, signal, _ => false);

            Assert.Equal(0, sent);
            Assert.True(reads >= 2, "the cgroup was read once: nothing checked the pid still belonged to it");
            await Task.Delay(200, TestContext.Current.CancellationToken);
            Assert.False(host.HasExited, $"the host process that took a member's pid got signal {signal}");
        }
        finally
        {
            host.Kill();
        }
    }

    /// <summary>The control: a pid the cgroup still lists is signalled, and a spared one is not.</summary>
    [Fact]
    public async Task APidTheCgroupStillLists_IsSignalled_UnlessSpared()
    {
        using var member = Process.Start(new ProcessStartInfo("/usr/bin/sleep", "300") { UseShellExecute = false })!;
        using var spared = Process.Start(new ProcessStartInfo("/usr/bin/sleep", "300") { UseShellExecute = false })!;
        try
        {
            // SIGTERM (15), not SIGINT: a suite started in the background of a non-interactive shell runs with SIGINT
            // ignored, and children inherit that, so a SIGINT would be delivered and still change nothing.
            const int SIGTERM = 15;
            int sent = CgroupSignals.SignalMembers(() => [member.Id, spared.Id], SIGTERM, pid => pid == spared.Id);

            Assert.Equal(1, sent);
            await member.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            await Task.Delay(200, TestContext.Current.CancellationToken);
            Assert.False(spared.HasExited, "a spared process got the signal");
        }
        finally
        {
            if (!member.HasExited) member.Kill();
            spared.Kill();
        }
    }
}
