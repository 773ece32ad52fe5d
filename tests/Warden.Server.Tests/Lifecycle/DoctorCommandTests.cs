using System.Diagnostics;

namespace Warden.Server.Tests.Lifecycle;

/// <summary>
/// <c>warden doctor</c> starts a program in a real sandbox and checks the state directory: it used to pass every check
/// while every run failed.
/// </summary>
public sealed class DoctorCommandTests : IDisposable
{
    private readonly string _root = Root();

    private static string Root()
    {
        var root = Directory.CreateTempSubdirectory("warden-doctor-test-");
        root.UnixFileMode = (UnixFileMode)Convert.ToInt32("755", 8);
        return root.FullName;
    }

    private static async Task<(int ExitCode, string Output)> DoctorAsync(Dictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo(ServeProcess.Binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("doctor");
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("WARDEN_", StringComparison.Ordinal)).ToList()) start.Environment.Remove(name);
        foreach (var (k, v) in environment) start.Environment[k] = v;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken);
        return (process.ExitCode, await stdout + await stderr);
    }

    [Fact]
    public async Task Doctor_HealthyHost_RunsAProgramInARealSandbox()
    {
        var (code, output) = await DoctorAsync(new() { ["WARDEN_STATE_DIR"] = Path.Combine(_root, "state") });
        Assert.True(code == 0, output);
        Assert.Contains("✔ sandbox start: a program ran in a bwrap sandbox", output, StringComparison.Ordinal);
        Assert.Contains("✔ state directory:", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Doctor_StateDirectoryUnderAParentSandboxesCannotEnter_FailsNamingItAndTheMode()
    {
        var parent = Directory.CreateDirectory(Path.Combine(_root, "private")).FullName;
        File.SetUnixFileMode(parent, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var (code, output) = await DoctorAsync(new() { ["WARDEN_STATE_DIR"] = Path.Combine(parent, "state") });

        Assert.Equal(1, code);
        Assert.Contains($"✘ state directory: {parent} is mode 0700", output, StringComparison.Ordinal);
        Assert.Contains("cannot run", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Doctor_SandboxesCannotStart_FailsWithTheSandboxsOwnError()
    {
        // Every prerequisite is there; the configured layout binds a path that does not exist, so bwrap refuses every sandbox.
        var config = Path.Combine(_root, "config.json");
        await File.WriteAllTextAsync(config, """{"Warden":{"Filesystem":{"ReadOnlyDirectories":["/usr","/opt/warden-doctor-missing"]}}}""",
            TestContext.Current.CancellationToken);

        var (code, output) = await DoctorAsync(new() { ["WARDEN_STATE_DIR"] = Path.Combine(_root, "state") }, "--config", config);

        Assert.Equal(1, code);
        Assert.Contains("✘ sandbox start:", output, StringComparison.Ordinal);
        Assert.Contains("/opt/warden-doctor-missing", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Doctor_StateDirectoryHeldByARunningServer_ChecksInATemporaryOneAndSaysSo()
    {
        var state = Path.Combine(_root, "served");
        await using var server = await ServeProcess.StartAsync(state);
        var before = Directory.GetDirectories(Path.GetTempPath(), "warden-doctor-*").Length;

        var (code, output) = await DoctorAsync(new() { ["WARDEN_STATE_DIR"] = state });

        Assert.True(code == 0, output);
        Assert.Contains($"{state} is in use by pid {server.Pid}", output, StringComparison.Ordinal);
        Assert.Contains("✔ sandbox start", output, StringComparison.Ordinal);
        Assert.Equal(before, Directory.GetDirectories(Path.GetTempPath(), "warden-doctor-*").Length);
        var (_, result) = await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "bash", code = "echo unharmed" });
        Assert.Equal("success", result.GetProperty("status").GetString());
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
