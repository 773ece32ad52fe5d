using System.Net;
using Warden.Server.History;
using Warden.Server.Tests.Auth;

namespace Warden.Server.Tests.Data;

/// <summary>The key store and the history on a real PostgreSQL 15 (a private cluster started for this class).</summary>
public sealed class PostgresTests(PostgresCluster postgres) : IClassFixture<PostgresCluster>
{
    [Fact]
    public async Task Postgres_KeysHistoryPagingRetentionAndReadiness()
    {
        postgres.Require();
        var ct = TestContext.Current.CancellationToken;
        var server = await WardenTestServer.StartAsync(new() { ["Warden:Database:ConnectionString"] = postgres.ConnectionString }, apiKey: "pg-admin");
        try
        {
            var (created, key) = await Json.PostAsync(server.Client, "/api/v1/admin/keys", new { name = "pg", scopes = new[] { "execute" } });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            using var user = ApiKeyTests.Client(server, key.GetProperty("key").GetString()!);
            var ids = new List<string>();
            for (int i = 0; i < 3; i++)
                ids.Add((await Json.PostAsync(user, "/api/v1/execute", new { language = "bash", code = $"echo {i}" })).Body.GetProperty("execution_id").GetString()!);

            // The history is written behind the responses: wait for all three before paging, or the first page may
            // be taken while the third is still on its way.
            await ApiKeyTests.PollHistoryAsync(user, "/api/v1/executions?limit=3", 3);
            var first = await Json.ReadAsync(await user.GetAsync("/api/v1/executions?limit=2", ct));
            var second = await Json.ReadAsync(await user.GetAsync($"/api/v1/executions?limit=2&cursor={first.GetProperty("next_cursor").GetString()}", ct));
            var seen = first.GetProperty("items").EnumerateArray().Concat(second.GetProperty("items").EnumerateArray()).Select(i => i.GetProperty("id").GetString()).ToList();
            Assert.Equal(Enumerable.Reverse(ids), seen);
            var one = await Json.ReadAsync(await user.GetAsync($"/api/v1/executions/{ids[0]}", ct));
            Assert.Equal("success", one.GetProperty("status").GetString());
            Assert.Equal(key.GetProperty("id").GetString(), one.GetProperty("key_id").GetString());

            var store = (HistoryStore)server.Services.GetService(typeof(HistoryStore))!;
            Assert.Equal(1, await store.ApplyRetentionAsync(DateTimeOffset.UtcNow.AddDays(-1), maxRows: 2, ct));
            Assert.Equal(2, await store.CountAsync(ct));

            Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/readyz", ct)).StatusCode);
            await postgres.StopAsync();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await server.Client.GetAsync("/readyz", ct)).StatusCode);
            await postgres.StartAsync();
            Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/readyz", ct)).StatusCode);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}
