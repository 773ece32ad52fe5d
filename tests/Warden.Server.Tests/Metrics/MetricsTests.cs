using System.Net;
using System.Text.RegularExpressions;

namespace Warden.Server.Tests.Metrics;

public sealed partial class MetricsTests
{
    [Fact]
    public async Task Metrics_AfterExecutions_ExposesCountersHistogramsAndGauges()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:MaxConcurrent"] = "1", ["Warden:MaxQueue"] = "0" });
        var ct = TestContext.Current.CancellationToken;
        await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "bash", code = "echo one" });
        await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "bash", code = "exit 2" });
        var busy = server.Client.PostAsync("/api/v1/execute", Json.Body(new { language = "bash", code = "sleep 1" }), ct);
        await Task.Delay(300, ct);
        var refused = await server.Client.PostAsync("/api/v1/execute", Json.Body(new { language = "bash", code = "echo no" }), ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        await busy;

        var response = await server.Client.GetAsync("/metrics", ct);
        var text = await response.Content.ReadAsStringAsync(ct);

        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(2, Value(text, "warden_executions_total", "backend=\"bwrap\",language=\"bash\",status=\"success\""));
        Assert.Equal(1, Value(text, "warden_executions_total", "backend=\"bwrap\",language=\"bash\",status=\"error\""));
        Assert.Equal(1, Value(text, "warden_rejections_total", "reason=\"capacity\""));
        Assert.Equal(2, Value(text, "warden_execution_duration_seconds_count", "backend=\"bwrap\",language=\"bash\",status=\"success\""));
        Assert.Equal(2, Value(text, "warden_execution_duration_seconds_bucket", "backend=\"bwrap\",language=\"bash\",status=\"success\",le=\"+Inf\""));
        Assert.Equal(0, Value(text, "warden_queue_depth", null));
        Assert.Equal(0, Value(text, "warden_sandboxes_active", null));
        Assert.Equal(1, Value(text, "warden_pool_slots", "backend=\"bwrap\",state=\"total\""));
        Assert.Equal(0, Value(text, "warden_pool_slots", "backend=\"bwrap\",state=\"quarantined\""));
        Assert.Equal(0, Value(text, "warden_slots_recycle_failures_total", "backend=\"bwrap\""));
        Assert.Contains("# TYPE warden_slots_recycle_failures_total counter", text);
        Assert.Contains("# TYPE warden_execution_duration_seconds histogram", text);
        Assert.Contains("# TYPE warden_executions_total counter", text);
        // Every sample line is name{labels} value.
        Assert.All(text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')), l => Assert.Matches(SampleLine(), l));
    }

    [Fact]
    public async Task Metrics_WarmPool_HitsMissesOnDemandRefillsAndReady()
    {
        // python is kept warm, javascript never: its run finds the pool empty and starts a stub sandbox on demand.
        await using var server = await WardenTestServer.StartAsync(new()
        {
            ["Warden:Pool:Enabled"] = "true", ["Warden:Pool:Size"] = "1", ["Warden:Pool:Adaptive"] = "false",
            ["Warden:Pool:Targets:python"] = "1", ["Warden:Pool:Targets:javascript"] = "0", ["Warden:Pool:Targets:bash"] = "0",
        });
        var ct = TestContext.Current.CancellationToken;
        for (var deadline = DateTime.UtcNow.AddSeconds(30); DateTime.UtcNow < deadline; await Task.Delay(50, ct))
        {
            var stats = await Json.ReadAsync(await server.Client.GetAsync("/api/v1/stats", ct));
            if (stats.GetProperty("pool").GetProperty("ready").TryGetProperty("python", out var ready) && ready.GetInt32() == 1) break;
        }
        var warm = await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "python", code = "print(1)" });
        var onDemand = await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "javascript", code = "console.log(2)" });
        Assert.Equal("1\n", warm.Body.GetProperty("stdout").GetString());
        Assert.Equal("2\n", onDemand.Body.GetProperty("stdout").GetString());

        var pool = (await Json.ReadAsync(await server.Client.GetAsync("/api/v1/stats", ct))).GetProperty("pool");
        Assert.Equal(1, pool.GetProperty("hits").GetInt64());
        Assert.Equal(1, pool.GetProperty("on_demand").GetInt64());
        var text = await (await server.Client.GetAsync("/metrics", ct)).Content.ReadAsStringAsync(ct);
        Assert.Equal(1, Value(text, "warden_pool_hits_total", "language=\"python\""));
        Assert.Equal(1, Value(text, "warden_pool_misses_total", "language=\"javascript\",reason=\"empty\""));
        Assert.Equal(1, Value(text, "warden_pool_on_demand_total", "language=\"javascript\""));
        Assert.Contains("# TYPE warden_pool_refill_duration_milliseconds histogram", text);
        Assert.Matches(@"warden_pool_ready\{language=""python""\} [01]\n", text);
    }

    [Fact]
    public async Task Probes_LivenessAndReadiness()
    {
        await using var server = await WardenTestServer.StartAsync(apiKey: "k");
        using var anonymous = new HttpClient { BaseAddress = server.Address };
        var ct = TestContext.Current.CancellationToken;

        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz", ct)).StatusCode);
        var ready = await anonymous.GetAsync("/readyz", ct);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var body = await Json.ReadAsync(ready);
        Assert.True(body.GetProperty("backend_started").GetBoolean());
        Assert.True(body.GetProperty("database_reachable").GetBoolean());
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/metrics", ct)).StatusCode);
    }

    private static double Value(string text, string name, string? labels)
    {
        var prefix = labels is null ? name + " " : name + "{" + labels + "} ";
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
        Assert.True(line is not null, $"no sample {prefix}in:\n{text}");
        return double.Parse(line![prefix.Length..], System.Globalization.CultureInfo.InvariantCulture);
    }

    [GeneratedRegex("""^[a-z_:][a-z0-9_:]*(\{([a-z_][a-z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+Inf-]+$""")]
    private static partial Regex SampleLine();
}
