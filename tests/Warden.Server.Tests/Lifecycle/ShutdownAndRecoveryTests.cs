using System.Diagnostics;
using System.Text.Json;
using Warden.Server.Data;
using Warden.Server.History;
using Warden.Server.Tests.NativeApi;

namespace Warden.Server.Tests.Lifecycle;

/// <summary>SIGTERM, SIGKILL and bad configuration against a real <c>warden serve</c> process.</summary>
public sealed class ShutdownAndRecoveryTests : IDisposable
{
    private const int SIGKILL = 9, SIGTERM = 15;
    private readonly string _state = StateDirectory();

    /// <summary>Sandbox uids must be able to reach their workspaces under it: 0755, not the temp default 0700.</summary>
    private static string StateDirectory()
    {
        var dir = Directory.CreateTempSubdirectory("warden-serve-");
        dir.UnixFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead
            | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        return dir.FullName;
    }

    [Fact]
    public async Task Sigterm_RunningExecutionFinishes_ThenProcessExitsCleanly()
    {
        string instance;
        await using (var server = await ServeProcess.StartAsync(_state))
        {
            instance = await InstanceAsync(server);
            var call = Json.PostAsync(server.Client, "/api/v1/execute", new { language = "bash", code = "sleep 2; echo done" });
            await WaitUntilAsync(() => ActiveAsync(server), "the execution to start");

            server.Signal(SIGTERM);

            var (_, body) = await call;
            Assert.Equal("done\n", body.GetProperty("stdout").GetString());
            Assert.Equal("success", body.GetProperty("status").GetString());
            Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        }
        Assert.Single(File.ReadAllLines(Path.Combine(_state, "audit.log")));
        Assert.Empty(Leftovers(instance));
    }

    [Fact]
    public async Task Sigterm_GraceExpires_ExecutionIsKilledReportedAndRecorded()
    {
        await using var server = await ServeProcess.StartAsync(_state, new() { ["WARDEN_SHUTDOWN_GRACE"] = "1" });
        var call = Json.PostAsync(server.Client, "/api/v1/execute", new { language = "bash", code = "sleep 30; echo never" });
        await WaitUntilAsync(() => ActiveAsync(server), "the execution to start");
        var watch = Stopwatch.StartNew();

        server.Signal(SIGTERM);

        var (_, body) = await call;
        Assert.Equal("killed", body.GetProperty("status").GetString());
        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"shutdown took {watch.Elapsed}");
        await using var database = WardenDatabase.Open(null, _state);
        var page = await new HistoryStore(database).QueryAsync(new HistoryQuery(), TestContext.Current.CancellationToken);
        Assert.Equal("killed", Assert.Single(page.Items).Status);
    }

    [Fact]
    public async Task Kill9_NextStartReapsProcessesCgroupsMountsAndWorkspaces()
    {
        var marker = "crash-" + Guid.NewGuid().ToString("N");
        string instance;
        await using (var crashed = await ServeProcess.StartAsync(_state))
        {
            instance = await InstanceAsync(crashed);
            _ = crashed.Client.PostAsync("/api/v1/execute", Json.Body(new { language = "bash", code = $"exec -a {marker} sleep 120", timeout = 60 }), TestContext.Current.CancellationToken);
            await WaitUntilAsync(() => Task.FromResult(HostProcesses.WithCommandLine(marker).Count > 0), "the sandboxed process");

            crashed.Signal(SIGKILL);
            await crashed.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }
        Assert.NotEmpty(Leftovers(instance)); // a crash does leave things behind: the next start must find them

        await using (var next = await ServeProcess.StartAsync(_state))
        {
            Assert.Empty(Leftovers(instance));
            Assert.Empty(HostProcesses.WithCommandLine(marker));
            var (_, body) = await Json.PostAsync(next.Client, "/api/v1/execute", new { language = "bash", code = "echo alive" });
            Assert.Equal("alive\n", body.GetProperty("stdout").GetString());
        }
    }

    [Fact]
    public async Task InvalidConfiguration_StopsStartupNamingTheSetting()
    {
        var (code, output) = await ServeProcess.FailToStartAsync(new() { ["WARDEN_STATE_DIR"] = _state, ["MAX_MEMORY_MB"] = "lots" });
        Assert.NotEqual(0, code);
        Assert.Contains("MAX_MEMORY_MB", output);

        (code, output) = await ServeProcess.FailToStartAsync(new() { ["WARDEN_STATE_DIR"] = _state, ["WARDEN_RATE_LIMIT_BURST"] = "0" });
        Assert.NotEqual(0, code);
        Assert.Contains("Burst", output);
    }

    [Fact]
    public async Task YamlConfigFile_IsApplied()
    {
        var yaml = Path.Combine(_state, "warden.yaml");
        await File.WriteAllTextAsync(yaml, "warden:\n  max_queue: 7\n  limits:\n    default:\n      timeout_seconds: 4\nMAX_CONCURRENT_EXECUTIONS: 3\n",
            TestContext.Current.CancellationToken);
        await using var server = await ServeProcess.StartAsync(_state, new() { ["WARDEN_MAX_CONCURRENT"] = "" }, "--config", yaml);
        var config = await Json.ReadAsync(await server.Client.GetAsync("/api/v1/config", TestContext.Current.CancellationToken));
        Assert.Equal(7, config.GetProperty("max_queue").GetInt32());
        Assert.Equal(3, config.GetProperty("max_concurrent").GetInt32());
        Assert.Equal(4, config.GetProperty("defaults").GetProperty("timeout").GetDouble());
    }

    private static async Task<string> InstanceAsync(ServeProcess server) =>
        (await Json.ReadAsync(await server.Client.GetAsync("/api/v1/health"))).GetProperty("backend_info").GetProperty("instance").GetString()!;

    private static async Task<bool> ActiveAsync(ServeProcess server) =>
        (await Json.ReadAsync(await server.Client.GetAsync("/api/v1/stats"))).GetProperty("active").GetInt32() > 0;

    /// <summary>Everything of <paramref name="instance"/> still on the host: processes, cgroups, mounts, its run directory.</summary>
    private List<string> Leftovers(string instance)
    {
        var leaks = new List<string>();
        foreach (var hierarchy in Directory.Exists("/sys/fs/cgroup") ? Directory.GetDirectories("/sys/fs/cgroup") : [])
        {
            var dir = Path.Combine(hierarchy, "warden", instance);
            if (Directory.Exists(dir)) leaks.Add("cgroup " + dir);
        }
        leaks.AddRange(File.ReadLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4]).Where(m => m.Contains(instance, StringComparison.Ordinal)).Select(m => "mount " + m));
        leaks.AddRange(HostProcesses.WithCommandLine(instance).Select(p => $"process {p}"));
        var run = Path.Combine(_state, "run", instance);
        if (Directory.Exists(run)) leaks.Add("directory " + run);
        return leaks;
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > TimeSpan.FromSeconds(20)) Assert.Fail($"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(_state, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
