using System.Net;
using System.Text.Json;

namespace Warden.Server.Tests.NativeApi;

public sealed class ServiceEndpointsTests(SharedServer fixture) : IClassFixture<SharedServer>
{
    private HttpClient Client => fixture.Server.Client;

    private async Task<JsonElement> GetAsync(string path)
    {
        var response = await Client.GetAsync(path, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await Json.ReadAsync(response);
    }

    [Fact]
    public async Task Runtimes_ListsInstalledLanguagesWithVersions()
    {
        var runtimes = (await GetAsync("/api/v1/runtimes")).EnumerateArray().ToDictionary(r => r.GetProperty("language").GetString()!);

        foreach (var language in new[] { "python", "javascript", "bash", "sh", "c", "c++" }) Assert.Contains(language, runtimes.Keys);
        Assert.Matches(@"^3\.\d+\.\d+$", runtimes["python"].GetProperty("version").GetString());
        Assert.Contains("py", runtimes["python"].GetProperty("aliases").EnumerateArray().Select(a => a.GetString()));
        Assert.True(runtimes["c"].GetProperty("compiled").GetBoolean());
    }

    [Fact]
    public async Task Health_ReportsBackendAndCgroupVersion()
    {
        var health = await GetAsync("/api/v1/health");

        Assert.Equal("ok", health.GetProperty("status").GetString());
        Assert.Equal("bwrap", health.GetProperty("backend").GetString());
        Assert.False(health.GetProperty("degraded").GetBoolean());
        Assert.Matches("^v[12]$", health.GetProperty("backend_info").GetProperty("cgroup_version").GetString());
    }

    [Fact]
    public async Task Config_ShowsDefaultsAndCeilingsButNoSecrets()
    {
        var response = await Client.GetAsync("/api/v1/config", TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        var config = JsonDocument.Parse(text).RootElement;

        Assert.Equal(10, config.GetProperty("defaults").GetProperty("timeout").GetDouble());
        Assert.Equal(60, config.GetProperty("ceilings").GetProperty("timeout").GetDouble());
        Assert.Equal(256, config.GetProperty("defaults").GetProperty("memory_mb").GetInt32());
        Assert.Contains("python", config.GetProperty("languages").EnumerateArray().Select(l => l.GetString()));
        Assert.DoesNotContain("api_key", text, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Stats_CountExecutionsByStatus()
    {
        var before = await GetAsync("/api/v1/stats");
        await Json.PostAsync(Client, "/api/v1/execute", new { language = "bash", code = "exit 4" });
        var after = await GetAsync("/api/v1/stats");

        Assert.True(after.GetProperty("total").GetInt64() >= before.GetProperty("total").GetInt64() + 1);
        Assert.True(after.GetProperty("by_status").GetProperty("error").GetInt64() >= 1);
        Assert.True(after.GetProperty("duration_ms").GetProperty("p95").GetDouble() >= after.GetProperty("duration_ms").GetProperty("p50").GetDouble());
        Assert.True(after.TryGetProperty("queued", out _) && after.TryGetProperty("active", out _));
    }

    [Fact]
    public async Task OpenApi_EveryOperationHasAnOperationId()
    {
        var document = await GetAsync("/openapi.json");

        Assert.StartsWith("3.0", document.GetProperty("openapi").GetString());
        var operations = document.GetProperty("paths").EnumerateObject()
            .SelectMany(p => p.Value.EnumerateObject().Where(m => m.Name is "get" or "post" or "put" or "delete" or "patch")).ToList();
        Assert.NotEmpty(operations);
        Assert.All(operations, op => Assert.False(string.IsNullOrEmpty(op.Value.GetProperty("operationId").GetString())));
        Assert.True(document.GetProperty("paths").TryGetProperty("/api/v1/execute", out _));
    }
}
