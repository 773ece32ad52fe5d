using System.Diagnostics;

namespace Warden.Server.Tests.Lifecycle;

/// <summary>
/// A real <c>warden serve</c> on a state directory an operator made 0700, under any umask: runs succeed, and everything
/// private in it (database, audit log, locks) is 0600. A second server on the same directory refuses to start.
/// </summary>
public sealed class StateDirectoryTests : IDisposable
{
    private static readonly string Owner = "600", Traversable = "711", Private = "700", Readable = "755", ReadableFile = "644";

    // The temp default, 0700: what an operator's `mkdir -m 700` gives. Warden must make it usable itself.
    private readonly string _state = Directory.CreateTempSubdirectory("warden-state-").FullName;

    private static string ModeOf(string path) => Convert.ToString((int)File.GetUnixFileMode(path), 8);

    [Theory]
    [InlineData("077")]
    [InlineData("000")]
    public async Task Serve_UnderAnyUmask_RunsSucceed_AndStateFilesAreOwnerOnly(string umask)
    {
        await using var server = await ServeProcess.StartUnderUmaskAsync(umask, _state);

        var (_, result) = await Json.PostAsync(server.Client, "/api/v1/execute",
            new { language = "python", code = "import os\nprint('sandbox:x:' in open('/etc/passwd').read(), os.getuid())" });
        Assert.True(result.GetProperty("status").GetString() == "success", result.ToString());
        Assert.StartsWith("True ", result.GetProperty("stdout").GetString(), StringComparison.Ordinal);

        // The record reaches the audit log before the answer (group commit), and the WAL files exist while it runs.
        foreach (var file in new[] { "warden.db", "warden.db-wal", "warden.db-shm", "audit.log", "warden.lock" })
            Assert.True(ModeOf(Path.Combine(_state, file)) == Owner, $"{file} is {ModeOf(Path.Combine(_state, file))} under umask {umask}");
        Assert.All(Directory.GetFiles(Path.Combine(_state, "uids")), f => Assert.Equal(Owner, ModeOf(f)));
        Assert.Equal(Traversable, ModeOf(_state));
        Assert.Equal(Traversable, ModeOf(Path.Combine(_state, "run")));
        Assert.Equal(Private, ModeOf(Path.Combine(_state, "uids")));
        var instance = Assert.Single(Directory.GetDirectories(Path.Combine(_state, "run")));
        Assert.Equal(Traversable, ModeOf(instance));
        // The sandbox's /etc is prepared once per host state and kept in the state directory (SandboxEtcCache).
        Assert.Equal(Traversable, ModeOf(Path.Combine(_state, "etc")));
        var etc = Assert.Single(Directory.GetDirectories(Path.Combine(_state, "etc")));
        Assert.Equal(Readable, ModeOf(etc));
        Assert.Equal(ReadableFile, ModeOf(Path.Combine(etc, "passwd")));
    }

    [Fact]
    public async Task Serve_DatabaseAndAuditLogLeftReadable_AreMadeOwnerOnly()
    {
        // As an older version (or a copy made by hand) left them.
        foreach (var file in new[] { "warden.db", "audit.log" })
        {
            await File.WriteAllTextAsync(Path.Combine(_state, file), "", TestContext.Current.CancellationToken);
            File.SetUnixFileMode(Path.Combine(_state, file), (UnixFileMode)Convert.ToInt32("644", 8));
        }
        await using var server = await ServeProcess.StartAsync(_state);
        var (_, result) = await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "bash", code = "echo hi" });
        Assert.Equal("success", result.GetProperty("status").GetString());
        Assert.Equal(Owner, ModeOf(Path.Combine(_state, "warden.db")));
        Assert.Equal(Owner, ModeOf(Path.Combine(_state, "audit.log")));
        Assert.Contains("\"execution\"", await File.ReadAllTextAsync(Path.Combine(_state, "audit.log"), TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SecondServe_SameStateDirectory_RefusesNamingTheFirst_AndStartsOnceTheFirstIsKilled()
    {
        var first = await ServeProcess.StartAsync(_state);
        try
        {
            var (code, output) = await ServeProcess.FailToStartAsync(new() { ["WARDEN_STATE_DIR"] = _state, ["WARDEN_MAX_CONCURRENT"] = "2" });
            Assert.NotEqual(0, code);
            Assert.Contains($"{_state} is in use by another Warden process (pid {first.Pid})", output, StringComparison.Ordinal);
            // The first one is unharmed.
            var (_, result) = await Json.PostAsync(first.Client, "/api/v1/execute", new { language = "bash", code = "echo still" });
            Assert.Equal("success", result.GetProperty("status").GetString());

            // A crash releases the directory (the kernel drops the lock with the process).
            first.Signal(9);
            await first.WaitForExitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            await first.DisposeAsync();
        }
        await using var next = await ServeProcess.StartAsync(_state);
        var (_, again) = await Json.PostAsync(next.Client, "/api/v1/execute", new { language = "bash", code = "echo next" });
        Assert.Equal("success", again.GetProperty("status").GetString());
    }

    public void Dispose()
    {
        try { Directory.Delete(_state, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
