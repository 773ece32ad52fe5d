using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace Warden.Server.Tests.NativeApi;

public sealed class CapacityTests
{
    [Fact]
    public async Task Execute_AllSlotsBusyAndQueueFull_Returns503WithRetryAfter()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:MaxConcurrent"] = "1", ["Warden:MaxQueue"] = "0" });
        var ct = TestContext.Current.CancellationToken;
        var busy = server.Client.PostAsync("/api/v1/execute", Json.Body(new { language = "bash", code = "sleep 2; echo done" }), ct);
        await WaitUntilAsync(async () => (await Stats(server)).GetProperty("active").GetInt32() == 1);

        var rejected = await server.Client.PostAsync("/api/v1/execute", Json.Body(new { language = "bash", code = "echo hi" }), ct);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, rejected.StatusCode);
        Assert.NotNull(rejected.Headers.RetryAfter);
        Assert.Equal("application/problem+json", rejected.Content.Headers.ContentType?.MediaType);
        var first = await Json.ReadAsync(await busy.WaitAsync(TimeSpan.FromSeconds(30), ct));
        Assert.Equal("done\n", first.GetProperty("stdout").GetString());
        Assert.Equal(1, (await Stats(server)).GetProperty("rejected").GetInt64());
    }

    [Fact]
    public async Task Execute_ClientDisconnects_SandboxIsKilledAndSlotReturns()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:MaxConcurrent"] = "1" });
        var ct = TestContext.Current.CancellationToken;
        var marker = "disconnect-" + Guid.NewGuid().ToString("N");
        using (var cts = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            var call = server.Client.PostAsync("/api/v1/execute", Json.Body(new { language = "bash", code = $"exec -a {marker} sleep 30" }), cts.Token);
            await WaitUntilAsync(() => Task.FromResult(HostProcesses.WithCommandLine(marker).Count > 0));
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        }

        await WaitUntilAsync(() => Task.FromResult(HostProcesses.WithCommandLine(marker).Count == 0));
        await WaitUntilAsync(async () => (await Stats(server)).GetProperty("active").GetInt32() == 0);
        var (_, next) = await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "bash", code = "echo next" });
        Assert.Equal("next\n", next.GetProperty("stdout").GetString());
    }

    private static async Task<JsonElement> Stats(WardenTestServer server) =>
        await Json.ReadAsync(await server.Client.GetAsync("/api/v1/stats", TestContext.Current.CancellationToken));

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > TimeSpan.FromSeconds(15)) Assert.Fail("condition not reached within 15 s");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }
}

/// <summary>Looks at the host's processes, the way an operator would.</summary>
internal static class HostProcesses
{
    public static List<int> WithCommandLine(string fragment)
    {
        var found = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ').Contains(fragment, StringComparison.Ordinal)) found.Add(pid);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }
}
