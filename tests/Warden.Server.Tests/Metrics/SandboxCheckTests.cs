using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Execution;

namespace Warden.Server.Tests.Metrics;

/// <summary>
/// Readiness and health run a tiny program in a real sandbox (reused for Warden:SandboxCheckSeconds, one check at a
/// time) and report a sandbox that cannot run one: they used to say all was well while every run failed.
/// </summary>
public sealed class SandboxCheckTests : IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("warden-check-").FullName;

    private Dictionary<string, string?> Settings(params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?> { ["Warden:StateDirectory"] = _state, ["Warden:SandboxCheckSeconds"] = "1" };
        foreach (var (key, value) in extra) settings[key] = value;
        return settings;
    }

    /// <summary>The state of the check once the cached result has expired.</summary>
    private static async Task<(HttpStatusCode Status, System.Text.Json.JsonElement Body)> AfterExpiryAsync(HttpClient client, string path)
    {
        await Task.Delay(TimeSpan.FromMilliseconds(1100), TestContext.Current.CancellationToken);
        var response = await client.GetAsync(path, TestContext.Current.CancellationToken);
        return (response.StatusCode, await Json.ReadAsync(response));
    }

    [Fact]
    public async Task Readyz_StateDirectoryMadeUnreachableWhileRunning_NotReadyWithTheSandboxError_ThenReadyAgain()
    {
        await using var server = await WardenTestServer.StartAsync(Settings());
        var (status, ready) = await AfterExpiryAsync(server.Client, "/readyz");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(ready.GetProperty("sandbox_check").GetProperty("ok").GetBoolean());

        // An operator's chmod: no slot uid can reach its /etc and workspace any more; every run would fail.
        File.SetUnixFileMode(_state, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            (status, ready) = await AfterExpiryAsync(server.Client, "/readyz");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
            Assert.Equal("not_ready", ready.GetProperty("status").GetString());
            var check = ready.GetProperty("sandbox_check");
            Assert.False(check.GetProperty("ok").GetBoolean());
            Assert.Contains("Permission denied", check.GetProperty("detail").GetString(), StringComparison.Ordinal);

            var health = await server.Client.GetAsync("/api/v1/health", TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
            var body = await Json.ReadAsync(health);
            Assert.Equal("error", body.GetProperty("status").GetString());
            Assert.Equal(check.GetProperty("detail").GetString(), body.GetProperty("sandbox_check").GetProperty("detail").GetString());
        }
        finally
        {
            File.SetUnixFileMode(_state, (UnixFileMode)Convert.ToInt32("711", 8));
        }
        (status, ready) = await AfterExpiryAsync(server.Client, "/readyz");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(ready.GetProperty("sandbox_check").GetProperty("ok").GetBoolean());
    }

    [Fact]
    public async Task Readyz_BindSourceMissing_NotReadyFromTheStart_AndHealthSaysError()
    {
        // Starts fine (nothing checks binds until a sandbox starts), but bwrap refuses every sandbox.
        await using var server = await WardenTestServer.StartAsync(Settings(
            ("Warden:Filesystem:ReadOnlyDirectories:0", "/usr"), ("Warden:Filesystem:ReadOnlyDirectories:1", "/opt/warden-test-missing")));
        var ready = await server.Client.GetAsync("/readyz", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        var check = (await Json.ReadAsync(ready)).GetProperty("sandbox_check");
        Assert.False(check.GetProperty("ok").GetBoolean());
        Assert.Contains("/opt/warden-test-missing", check.GetProperty("detail").GetString(), StringComparison.Ordinal);

        var health = await server.Client.GetAsync("/api/v1/health", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Equal("error", (await Json.ReadAsync(health)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Readyz_PolledByManyAtOnce_RunsOneCheck_AndReusesItsResult()
    {
        await using var server = await WardenTestServer.StartAsync(Settings(("Warden:SandboxCheckSeconds", "5")));
        var check = server.Services.GetRequiredService<SandboxCheck>();
        await Task.Delay(TimeSpan.FromMilliseconds(5100), TestContext.Current.CancellationToken);
        long before = check.Runs;

        var polls = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => server.Client.GetAsync("/readyz", TestContext.Current.CancellationToken)));
        Assert.All(polls, p => Assert.Equal(HttpStatusCode.OK, p.StatusCode));
        Assert.Equal(before + 1, check.Runs);

        // Fresh: the next polls start nothing.
        for (int i = 0; i < 5; i++) Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/readyz", TestContext.Current.CancellationToken)).StatusCode);
        Assert.Equal(before + 1, check.Runs);
    }

    [Fact]
    public async Task Health_CheckStale_AnswersFromTheLastResultWithItsAge_AndRechecksInTheBackground()
    {
        await using var server = await WardenTestServer.StartAsync(Settings());
        var check = server.Services.GetRequiredService<SandboxCheck>();
        // Readiness waits for a check: after it there is a result to answer from.
        var ready = await Json.ReadAsync(await server.Client.GetAsync("/readyz", TestContext.Current.CancellationToken));
        var checkedAt = ready.GetProperty("sandbox_check").GetProperty("checked_at").GetString();
        await Task.Delay(TimeSpan.FromMilliseconds(1500), TestContext.Current.CancellationToken);
        long runs = check.Runs;

        var health = await server.Client.GetAsync("/api/v1/health", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        var answered = (await Json.ReadAsync(health)).GetProperty("sandbox_check");
        // The stale result, not a new check waited for, and how old it is.
        Assert.Equal(checkedAt, answered.GetProperty("checked_at").GetString());
        Assert.True(answered.GetProperty("age_seconds").GetDouble() >= 1.0, answered.ToString());
        // The stale result started one new check, in the background.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (check.Runs == runs && DateTime.UtcNow < deadline) await Task.Delay(50, TestContext.Current.CancellationToken);
        Assert.Equal(runs + 1, check.Runs);
    }

    public void Dispose()
    {
        try { Directory.Delete(_state, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
