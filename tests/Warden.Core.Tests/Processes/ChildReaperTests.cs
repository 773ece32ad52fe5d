using Warden.Core.Processes;

namespace Warden.Core.Tests.Processes;

/// <summary>Real children: the exit status must reach the waiter whether the child exits before or after the watch.</summary>
public sealed class ChildReaperTests
{
    private static async Task<ChildProcess> SpawnShellAsync(string script)
    {
        using Pipe stdin = new(), stdout = new(), stderr = new();
        var child = await Spawner.SpawnAsync(["/bin/sh", "-c", script], [stdin.ReadFd, stdout.WriteFd, stderr.WriteFd]);
        return child;
    }

    [Theory]
    [InlineData("exit 0", 0)]
    [InlineData("exit 3", 3)]
    [InlineData("sleep 0.2; exit 7", 7)]
    public async Task ExitCode_ReachesTheWaiter(string script, int expected)
    {
        var child = await SpawnShellAsync(script);
        int status = await child.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.True(WaitStatus.Exited(status));
        Assert.Equal(expected, WaitStatus.ExitCode(status));
        Assert.True(child.HasExited);
    }

    [Fact]
    public async Task KilledChild_ReportsTheSignal()
    {
        var child = await SpawnShellAsync("sleep 30");
        var exit = child.WaitForExitAsync();
        child.Kill();
        int status = await exit.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.False(WaitStatus.Exited(status));
        Assert.Equal(9, WaitStatus.TermSignal(status));
    }

    [Fact]
    public async Task ChildThatExitedBeforeTheWatch_IsStillReaped()
    {
        var child = await SpawnShellAsync("exit 5");
        await Task.Delay(300, TestContext.Current.CancellationToken); // a zombie by now
        int status = await child.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(5, WaitStatus.ExitCode(status));
        Assert.False(Directory.Exists($"/proc/{child.Pid}"), "the zombie must be reaped");
    }

    [Fact]
    public async Task ManyConcurrentChildren_EachGetsItsOwnStatus()
    {
        var children = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => SpawnShellAsync($"exit {i}")));
        var statuses = await Task.WhenAll(children.Select(c => c.WaitForExitAsync())).WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);
        Assert.Equal(Enumerable.Range(0, 40), statuses.Select(WaitStatus.ExitCode));
    }
}
