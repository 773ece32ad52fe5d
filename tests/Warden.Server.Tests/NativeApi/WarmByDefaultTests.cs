using System.Net;
using System.Text.Json;

namespace Warden.Server.Tests.NativeApi;

/// <summary>
/// A server started without pool settings runs warm: the pool is on, sized at its floor while idle, and a run takes a
/// warm sandbox. The other suites pin the pool off unless WARDEN_TEST_POOL=on, so this is where the default is checked.
/// </summary>
public sealed class WarmByDefaultTests
{
    [Fact]
    public async Task NoPoolSettings_PoolOnAtFloorAndRunsWarm()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:Pool:Enabled"] = null });

        // The floor's three sandboxes (python, javascript, bash) load in the background; wait for python's.
        JsonElement pool = default;
        for (var deadline = DateTime.UtcNow.AddSeconds(30); DateTime.UtcNow < deadline; await Task.Delay(50, ct))
        {
            pool = (await Json.ReadAsync(await server.Client.GetAsync("/api/v1/stats", ct))).GetProperty("pool");
            if (pool.GetProperty("ready").TryGetProperty("python", out var ready) && ready.GetInt32() >= 1) break;
        }
        Assert.True(pool.GetProperty("enabled").GetBoolean());
        Assert.Equal(3, pool.GetProperty("size").GetInt32());
        Assert.Equal(1, pool.GetProperty("ready").GetProperty("python").GetInt32());

        var (response, body) = await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "python", code = "print(6*7)" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("42\n", body.GetProperty("stdout").GetString());

        var after = (await Json.ReadAsync(await server.Client.GetAsync("/api/v1/stats", ct))).GetProperty("pool");
        Assert.Equal(1, after.GetProperty("hits").GetInt64());
    }
}
