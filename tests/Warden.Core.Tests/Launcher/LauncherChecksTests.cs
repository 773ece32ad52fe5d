using System.Diagnostics;

namespace Warden.Core.Tests.Launcher;

/// <summary>
/// The launcher's (<c>./warden</c>) prerequisite checks, through the shell test that sources it
/// (<c>tests/launcher/checks.sh</c>): a check that says "missing" on a host that has everything makes the launcher
/// run apt-get. The shell test needs the packages the suites install (bubblewrap, libseccomp2, gcc, python3).
/// </summary>
public sealed class LauncherChecksTests
{
    [Fact]
    public async Task Checks_HostWithEverything_SayPresentEveryTime_AndAreNotFooledByLargeOutput()
    {
        var repo = new DirectoryInfo(AppContext.BaseDirectory);
        while (repo is not null && !File.Exists(Path.Combine(repo.FullName, "Warden.slnx"))) repo = repo.Parent;
        Assert.NotNull(repo);
        var start = new ProcessStartInfo("bash", [Path.Combine(repo.FullName, "tests", "launcher", "checks.sh")])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken);
        var output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, output);
        // Every check ran (a launcher that exits early when sourced would make the script pass nothing).
        Assert.Equal(8, output.Split('\n').Count(l => l.StartsWith("ok - ", StringComparison.Ordinal)));
    }
}
