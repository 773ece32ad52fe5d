using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Warden.Server.History;
using Warden.Server.Tests.Auth;

namespace Warden.Server.Tests.History;

public sealed class HistoryTests
{
    [Fact]
    public async Task Executions_AreRecordedInHistoryAndAuditLog()
    {
        await using var server = await WardenTestServer.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        const string code = "import sys; print('x'); sys.exit(3)";
        var (_, failed) = await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "python", code, memory_mb = 128 });
        var (_, ok) = await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "bash", code = "echo fine" });
        var (bad, _) = await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "cobol", code = "x" });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        var page = await ApiKeyTests.PollHistoryAsync(server.Client, "/api/v1/executions", 3);
        var items = page.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(3, items.Count);
        Assert.Equal("unknown-language", items[0].GetProperty("status").GetString());
        Assert.Equal(400, items[0].GetProperty("http_status").GetInt32());

        var id = failed.GetProperty("execution_id").GetString();
        var one = await Json.ReadAsync(await server.Client.GetAsync($"/api/v1/executions/{id}", ct));
        Assert.Equal("error", one.GetProperty("status").GetString());
        Assert.Equal(3, one.GetProperty("exit_code").GetInt32());
        Assert.Equal("python", one.GetProperty("language").GetString());
        Assert.Equal("bwrap", one.GetProperty("backend").GetString());
        Assert.Equal(128, one.GetProperty("memory_mb").GetInt32());
        Assert.Equal(2, one.GetProperty("stdout_bytes").GetInt64());
        Assert.Equal(Encoding.UTF8.GetByteCount(code), one.GetProperty("code_bytes").GetInt64());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(code))), one.GetProperty("code_sha256").GetString());
        Assert.Equal("127.0.0.1", one.GetProperty("client_ip").GetString());

        var filtered = await Json.ReadAsync(await server.Client.GetAsync("/api/v1/executions?status=success&language=bash", ct));
        Assert.Equal([ok.GetProperty("execution_id").GetString()],
            filtered.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetString()).ToList());
        var future = await Json.ReadAsync(await server.Client.GetAsync("/api/v1/executions?since=2999-01-01T00:00:00Z", ct));
        Assert.Equal(0, future.GetProperty("items").GetArrayLength());
        Assert.Equal(HttpStatusCode.NotFound, (await server.Client.GetAsync("/api/v1/executions/nope", ct)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await server.Client.GetAsync("/api/v1/executions?since=yesterday", ct)).StatusCode);

        var lines = await AuditLinesAsync(server.AuditLogPath, 3);
        var audited = lines.Single(l => l.GetProperty("execution").GetProperty("id").GetString() == id);
        Assert.True(audited.TryGetProperty("time", out _));
        Assert.Equal(one.GetProperty("code_sha256").GetString(), audited.GetProperty("execution").GetProperty("code_sha256").GetString());
        Assert.False(audited.GetProperty("execution").TryGetProperty("code", out _));
        Assert.DoesNotContain("sys.exit", await File.ReadAllTextAsync(server.AuditLogPath, ct));
    }

    [Fact]
    public async Task Executions_Paging_FollowsCursorWithoutGapsOrRepeats()
    {
        await using var server = await WardenTestServer.StartAsync();
        var ids = new List<string>();
        for (int i = 0; i < 5; i++)
            ids.Add((await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "bash", code = $"echo {i}" })).Body.GetProperty("execution_id").GetString()!);
        await ApiKeyTests.PollHistoryAsync(server.Client, "/api/v1/executions", 5);

        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await Json.ReadAsync(await server.Client.GetAsync("/api/v1/executions?limit=2" + (cursor is null ? "" : "&cursor=" + cursor), TestContext.Current.CancellationToken));
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetString()!));
            cursor = page.GetProperty("next_cursor").GetString();
        } while (cursor is not null);

        Assert.Equal(Enumerable.Reverse(ids), seen);
    }

    [Fact]
    public async Task AuditLog_IncludeCode_WritesTheCode()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:Audit:IncludeCode"] = "true", ["Warden:History:Enabled"] = "false" });
        await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "bash", code = "echo audited-code" });
        var line = Assert.Single(await AuditLinesAsync(server.AuditLogPath, 1));
        Assert.Equal("echo audited-code", line.GetProperty("execution").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Retention_KeepsAtMostMaxRows()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:History:MaxRows"] = "2" });
        for (int i = 0; i < 4; i++) await Json.PostAsync(server.Client, "/api/v1/execute", new { language = "bash", code = $"echo {i}" });
        await ApiKeyTests.PollHistoryAsync(server.Client, "/api/v1/executions", 4);
        var recorder = (ExecutionRecorder)server.Services.GetService(typeof(ExecutionRecorder))!;

        await recorder.ApplyRetentionAsync();

        var store = (HistoryStore)server.Services.GetService(typeof(HistoryStore))!;
        Assert.Equal(2, await store.CountAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task GracefulStop_DrainsEveryRecord()
    {
        var server = await WardenTestServer.StartAsync(new() { ["Warden:MaxConcurrent"] = "2" });
        try
        {
            var calls = Enumerable.Range(0, 6).Select(i => Json.PostAsync(server.Client, "/api/v1/execute", new { language = "bash", code = $"echo {i}" })).ToList();
            await Task.WhenAll(calls);
            await server.StopAsync();
            var lines = File.ReadAllLines(server.AuditLogPath);
            Assert.Equal(6, lines.Length);
            await using var database = Warden.Server.Data.WardenDatabase.Open("sqlite:" + server.DatabasePath, server.DataDirectory);
            Assert.Equal(6, await new HistoryStore(database).CountAsync(TestContext.Current.CancellationToken));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task AnExecutionAnswersOnlyOnceItsRecordIsWritten()
    {
        // A client that has its result must find it in the history even if the server is killed the next instant: the
        // answer waits for the write. Another connection holds the database's write lock, so the record cannot be written.
        await using var server = await WardenTestServer.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var database = Warden.Server.Data.WardenDatabase.Open("sqlite:" + server.DatabasePath, server.DataDirectory);
        var store = new HistoryStore(database);
        await using var blocker = await database.ConnectAsync(ct);
        await using (var begin = blocker.CreateCommand())
        {
            begin.CommandText = "BEGIN IMMEDIATE";
            await begin.ExecuteNonQueryAsync(ct);
        }

        var call = Json.PostAsync(server.Client, "/api/v1/execute", new { language = "bash", code = "echo recorded" });
        await Task.WhenAny(call, Task.Delay(TimeSpan.FromMilliseconds(1000), ct));
        Assert.False(call.IsCompleted, "the execution answered before its record could be written");

        await using (var commit = blocker.CreateCommand())
        {
            commit.CommandText = "COMMIT";
            await commit.ExecuteNonQueryAsync(ct);
        }
        var (response, body) = await call;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // No polling: it is there the moment the answer is.
        var id = body.GetProperty("execution_id").GetString()!;
        Assert.NotNull(await store.GetAsync(id, ct));
        Assert.Contains(id, await File.ReadAllTextAsync(server.AuditLogPath, ct), StringComparison.Ordinal);
    }

    internal static async Task<List<JsonElement>> AuditLinesAsync(string path, int atLeast)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var lines = File.Exists(path) ? File.ReadAllLines(path).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement).ToList() : [];
            if (lines.Count >= atLeast || DateTime.UtcNow > deadline) return lines;
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }
}
