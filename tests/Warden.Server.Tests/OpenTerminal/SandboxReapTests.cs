using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Terminals;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>An idle user's sandbox is stopped and leaves nothing behind on the host; the home (and their files) stay.</summary>
public sealed class SandboxReapTests
{
    [Fact]
    public async Task IdleSandbox_IsReaped_WithoutLeaks_AndHomePersists()
    {
        await using var terminal = await TerminalTestServer.StartAsync(new() { ["Warden:Terminal:IdleTimeoutSeconds"] = "2" });
        using var user = terminal.For("reaped-user");
        await user.RunAsync("echo keep > /home/user/keep.txt; (sleep 300 &) ; echo started");
        var manager = terminal.Server.Services.GetRequiredService<TerminalManager>();
        var instance = terminal.Server.Services.GetRequiredService<Warden.Core.Sandboxing.BackendSelector>().Selected.Status().Instance;
        // bwrap's processes run on the host as the user's uid. gVisor's guest processes live inside the Sentry, which with
        // the gofer and runsc is what the host sees, in the sandbox's cgroup: those are the processes that must go.
        var uid = terminal.UidOf("reaped-user");
        List<int> Sandboxed() => TestBackend.Name == "gvisor" ? ProcessesInCgroups(instance) : ProcessesOf(uid);
        Assert.NotEmpty(Sandboxed());

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (manager.RunningCount > 0 && DateTime.UtcNow < deadline)
            await Task.Delay(250, TestContext.Current.CancellationToken);
        Assert.Equal(0, manager.RunningCount);
        // The detached "sleep 300" went with the sandbox: nothing runs under the user's uid, no cgroup, no mount (the home's
        // filesystem is unmounted too, and its loop device unbound). Other tests' servers run alongside: only ours counts.
        await WaitUntilAsync(() => Sandboxed().Count == 0 && ProcessesOf(uid).Count == 0);
        Assert.Empty(Sandboxed());
        Assert.Empty(ProcessesOf(uid));
        await WaitUntilAsync(() => !File.ReadLines("/proc/self/mountinfo").Any(l => l.Contains(terminal.StateDirectory + "/users/", StringComparison.Ordinal)));
        Assert.DoesNotContain(File.ReadLines("/proc/self/mountinfo"), l => l.Contains(terminal.StateDirectory + "/users/", StringComparison.Ordinal));
        await WaitUntilAsync(() => HomeFilesystems.LoopDevicesUnder(terminal.StateDirectory).Count == 0);
        Assert.Empty(HomeFilesystems.LoopDevicesUnder(terminal.StateDirectory));
        Assert.Empty(TermCgroups(instance));

        var (_, read) = await user.GetAsync("files/read?path=/home/user/keep.txt");
        Assert.Equal("keep\n", read.GetProperty("content").GetString());
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition() && DateTime.UtcNow < deadline) await Task.Delay(100, TestContext.Current.CancellationToken);
    }

    internal static List<int> ProcessesOf(string uid)
    {
        var found = new List<int>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var line = File.ReadLines(Path.Combine(dir, "status")).FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal));
                if (line is not null && line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] == uid) found.Add(pid);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }

    /// <summary>Processes in a terminal cgroup of this server's backend instance.</summary>
    internal static List<int> ProcessesInCgroups(string instance)
    {
        var found = new List<int>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "cgroup")).Contains($"/{instance}/session-term-", StringComparison.Ordinal)) found.Add(pid);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }

    /// <summary>Terminal cgroups of this server's backend instance only (other test servers run in parallel).</summary>
    private static List<string> TermCgroups(string instance)
    {
        var found = new List<string>();
        foreach (var root in new[] { "/sys/fs/cgroup/memory/warden", "/sys/fs/cgroup/pids/warden", "/sys/fs/cgroup/cpu/warden", "/sys/fs/cgroup/warden" })
        {
            var dir = Path.Combine(root, instance);
            if (Directory.Exists(dir)) found.AddRange(Directory.GetDirectories(dir, "session-term-*"));
        }
        return found;
    }
}
