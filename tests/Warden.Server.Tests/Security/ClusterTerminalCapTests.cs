using System.Net;
using System.Net.Http.Headers;
using Warden.Server.Tests.Cluster;
using Warden.Server.Tests.Data;

namespace Warden.Server.Tests.Security;

/// <summary>
/// Terminal:MaxUsersPerKey bounds the terminal sandboxes one stored key may hold by naming users. In cluster mode it must
/// count every replica, as MaxSessionsPerKey does (the directory's tenant column); a key must not get the cap once per
/// replica by sending each new user to another replica (a balancer does exactly that on its own).
/// </summary>
public sealed class ClusterTerminalCapTests
{
    [Fact]
    public async Task TerminalsPerKey_CountEveryReplica()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var postgres = new PostgresCluster();
        await postgres.InitializeAsync();
        if (postgres.Unavailable is not null || !File.Exists(NginxBalancer.Binary))
        {
            if (Environment.GetEnvironmentVariable("CI") == "true") Assert.Fail(postgres.Unavailable ?? "nginx is not installed");
            Assert.Skip(postgres.Unavailable ?? "nginx is not installed");
        }
        await using var cluster = await ReplicaCluster.StartAsync(postgres, 2, new() { ["WARDEN_TERMINAL_MAX_USERS_PER_KEY"] = "1" });
        var (created, body) = await Json.PostAsync(cluster.Client, "/api/v1/admin/keys", new { name = "terminal-cap-tenant", scopes = new[] { "execute" } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var key = body.GetProperty("key").GetString()!;

        async Task<HttpStatusCode> OpenTerminalAsync(string replica, string user)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/terminal/files/cwd");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            request.Headers.Add("X-User-Id", user);
            using var response = await cluster.Direct(replica).SendAsync(request, ct);
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.OK, await OpenTerminalAsync("r1", "first-user"));
        // The key's cap (1) is taken; a second user through the other replica must be refused like one through the first.
        var second = await OpenTerminalAsync("r2", "second-user");
        Assert.True(second == HttpStatusCode.ServiceUnavailable,
            $"A key capped at 1 terminal user got a second one ({(int)second}) by sending the next user to another replica.");
    }
}
