using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Warden.Core.Workspaces;
using Warden.Server.Cluster;
using Warden.Server.Data;
using Warden.Server.Tests.Data;

namespace Warden.Server.Tests.Cluster;

/// <summary>
/// Homes survive a replica's death: two `warden serve` replicas on PostgreSQL share one homes directory
/// (Warden:Terminal:HomesDir); a user writes a file through replica r1, r1 is killed with SIGKILL, and the same user
/// reads the file through r2 once r1's lease has expired. A live owner's lease is never taken (the fence, directly).
/// </summary>
public sealed class HomeFailoverTests : IAsyncLifetime
{
    private readonly PostgresCluster _postgres = new();
    private readonly string _homes = Path.Combine(Path.GetTempPath(), "warden-shared-homes-" + Guid.NewGuid().ToString("N")[..8]);
    private ReplicaCluster? _cluster;
    private int? _killed;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        await _postgres.InitializeAsync();
        if (_postgres.Unavailable is not null || !File.Exists(NginxBalancer.Binary)) return;
        Directory.CreateDirectory(_homes).UnixFileMode = (UnixFileMode)0x1ED;
        _cluster = await ReplicaCluster.StartAsync(_postgres, 2, new Dictionary<string, string>
        {
            ["WARDEN_TERMINAL_HOMES_DIR"] = _homes,
            // One homes directory, one uid range: a user's uid file is shared, so both replicas run them under the same uid.
            ["WARDEN_USER_UID_BASE"] = "520000",
            ["WARDEN_TERMINAL_HOME_STORAGE"] = "image",
            // The long-lived-sandbox suites' backend (WARDEN_TEST_BACKEND): a user's terminal runs on it.
            ["WARDEN_BACKEND"] = TestBackend.Name,
        });
    }

    [Fact]
    public async Task Kill9_TheOwner_TheUsersFilesAreServedByTheNextReplica_AfterTheLeaseExpires()
    {
        _postgres.Require();
        NginxBalancer.Require();
        var cluster = _cluster!;
        using var viaR1 = Terminal(cluster.Replicas["r1"].Address, "dana");
        using var viaR2 = Terminal(cluster.Replicas["r2"].Address, "dana");

        var (written, writer) = await RunAsync(viaR1, "echo kept-across-replicas > ~/kept.txt && cat ~/kept.txt");
        Assert.Equal(HttpStatusCode.OK, written);
        Assert.Equal("r1", writer);
        // While r1 lives, r2 forwards to it: the lease stays r1's.
        var (read, reader) = await RunAsync(viaR2, "cat ~/kept.txt");
        Assert.Equal(HttpStatusCode.OK, read);
        Assert.Equal("r1", reader);
        var (holder, generation) = await LeaseAsync();
        Assert.Equal("r1", holder);

        _killed = cluster.Replicas["r1"].Pid;
        await cluster.KillAsync("r1");
        var clock = Stopwatch.StartNew();
        string? output = null;
        var seen = new List<string>();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "execute?wait=20") { Content = Json.Body(new { command = "cat ~/kept.txt" }) };
            using var response = await viaR2.SendAsync(request, Ct);
            var text = await response.Content.ReadAsStringAsync(Ct);
            seen.Add(((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (response.StatusCode == HttpStatusCode.OK)
            {
                output = string.Concat(JsonDocument.Parse(text).RootElement.GetProperty("output").EnumerateArray().Select(e => e.GetProperty("data").GetString()));
                break;
            }
            // While r1 may still be alive by its heartbeats: 503 (unreachable); once it is judged dead, 410 once, then served.
            Assert.True(response.StatusCode is HttpStatusCode.ServiceUnavailable or HttpStatusCode.Gone, $"{(int)response.StatusCode}: {text}");
            await Task.Delay(200, Ct);
        }
        var failover = clock.Elapsed;
        Assert.True(output is not null, $"never served after the kill: {string.Join(",", seen)}\n{cluster.Logs()}");
        Assert.Equal("kept-across-replicas\n", output);
        TestContext.Current.SendDiagnosticMessage($"home failover after SIGKILL: {failover.TotalSeconds:0.0} s (dead after {ReplicaCluster.DeadAfterSeconds} s); answers {string.Join(",", seen)}");
        Assert.True(failover < TimeSpan.FromSeconds(ReplicaCluster.DeadAfterSeconds * 3 + 5), $"failover took {failover}");
        var (newHolder, newGeneration) = await LeaseAsync();
        Assert.Equal("r2", newHolder);
        Assert.True(newGeneration > generation);
    }

    [Fact]
    public async Task PolicyRoute_ForwardedToTheOwner_IsServedByThePolicysTerminalThere()
    {
        _postgres.Require();
        NginxBalancer.Require();
        var cluster = _cluster!;
        using var admin = ReplicaCluster.Authorized(new HttpClient { BaseAddress = new Uri(cluster.Replicas["r2"].Address, "/terminal/") });
        using (var put = await admin.PutAsync("api/v1/policies/marked", Json.Body(new { env = new Dictionary<string, string> { ["POLICY_MARK"] = "blue" } }), Ct))
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        using var viaR1 = Terminal(cluster.Replicas["r1"].Address, "erin");
        using var viaR2 = Terminal(cluster.Replicas["r2"].Address, "erin");
        const string Probe = "echo mark=$POLICY_MARK; cat ~/where.txt 2>/dev/null; echo policy-home > ~/where.txt";

        // r1 claims erin's terminal under the policy (the policy, written on r2, is read from the shared database).
        var (_, first, firstReplica) = await RunRawAsync(viaR1, "p/marked/execute?wait=20", Probe);
        Assert.Equal("r1", firstReplica);
        Assert.Contains("mark=blue", first, StringComparison.Ordinal);
        // Through r2 the request is forwarded to r1 and must reach the same (policy, user) terminal: the mark and the
        // file its home holds, not erin's plain terminal (which has neither).
        var (_, second, secondReplica) = await RunRawAsync(viaR2, "p/marked/execute?wait=20", Probe);
        Assert.Equal("r1", secondReplica);
        Assert.Contains("mark=blue", second, StringComparison.Ordinal);
        Assert.Contains("policy-home", second, StringComparison.Ordinal);
        var (_, plain, _) = await RunRawAsync(viaR2, "execute?wait=20", Probe);
        Assert.Contains("mark=\n", plain, StringComparison.Ordinal);
        Assert.DoesNotContain("policy-home", plain, StringComparison.Ordinal);
    }

    private static async Task<(HttpStatusCode Status, string Output, string? Replica)> RunRawAsync(HttpClient client, string path, string command)
    {
        using var response = await client.PostAsync(path, Json.Body(new { command }), Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var output = string.Concat(JsonDocument.Parse(text).RootElement.GetProperty("output").EnumerateArray().Select(e => e.GetProperty("data").GetString()));
        return (response.StatusCode, output, response.Headers.TryGetValues("X-Warden-Replica", out var values) ? values.First() : null);
    }

    [Fact]
    public async Task Fence_ALiveHoldersLeaseIsNeverTaken_ADeadOnesIs_AndAStaleReleaseEndsNothing()
    {
        _postgres.Require();
        await using var database = WardenDatabase.Open(_postgres.ConnectionString, Path.GetTempPath());
        var options = Options.Create(new ClusterOptions { DeadAfterSeconds = 4 });
        var a = ReplicaIdentity.Create("fence-a", new Uri("http://127.0.0.1:1"));
        var b = ReplicaIdentity.Create("fence-b", new Uri("http://127.0.0.1:2"));
        foreach (var replica in new[] { a, b })
        {
            var directory = new ClusterDirectory(database, replica, options);
            await directory.EnsureSchemaAsync(Ct);
            await directory.RegisterAsync(Ct);
        }
        var fenceA = new ClusterHomeFence(database, a, options, NullLogger<ClusterHomeFence>.Instance);
        var fenceB = new ClusterHomeFence(database, b, options, NullLogger<ClusterHomeFence>.Instance);
        var key = Guid.NewGuid().ToString("N");

        long first = await fenceA.EnterAsync(key, Ct);
        Assert.Equal(first + 1, await fenceA.EnterAsync(key, Ct)); // the holder itself may enter again
        var refused = await Assert.ThrowsAsync<HomeFencedException>(async () => await fenceB.EnterAsync(key, Ct));
        Assert.Contains("fence-a", refused.Message, StringComparison.Ordinal);

        // a's heartbeat goes stale past DeadAfter: its lease has expired and b takes it.
        await ExecuteAsync($"UPDATE cluster_replicas SET last_seen = last_seen - 5000 WHERE id = 'fence-a'");
        long taken = await fenceB.EnterAsync(key, Ct);
        Assert.True(taken > first + 1);
        // a comes back (late heartbeats) and lets go of the generation it had: b's lease stays.
        await ExecuteAsync($"UPDATE cluster_replicas SET last_seen = last_seen + 5000 WHERE id = 'fence-a'");
        await fenceA.ExitAsync(key, first + 1, Ct);
        await Assert.ThrowsAsync<HomeFencedException>(async () => await fenceA.EnterAsync(key, Ct));
        await fenceB.ExitAsync(key, taken, Ct);
        Assert.True(await fenceA.EnterAsync(key, Ct) > taken);
    }

    private static async Task RemoveContainersAsync(string namePattern)
    {
        using var list = Process.Start(new ProcessStartInfo("docker", ["ps", "-aq", "--filter", "name=" + namePattern]) { RedirectStandardOutput = true })!;
        var ids = (await list.StandardOutput.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        await list.WaitForExitAsync();
        if (ids.Length == 0) return;
        using var remove = Process.Start(new ProcessStartInfo("docker", ["rm", "-f", .. ids]) { RedirectStandardOutput = true })!;
        await remove.StandardOutput.ReadToEndAsync();
        await remove.WaitForExitAsync();
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(PostgresUrl.ToConnectionString(_postgres.ConnectionString));
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(Ct);
    }

    private async Task<(string Holder, long Generation)> LeaseAsync()
    {
        await using var connection = new NpgsqlConnection(PostgresUrl.ToConnectionString(_postgres.ConnectionString));
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand("SELECT replica_id, generation FROM terminal_home_leases", connection);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        Assert.True(await reader.ReadAsync(Ct), "no home lease row");
        var row = (reader.GetString(0), reader.GetInt64(1));
        Assert.False(await reader.ReadAsync(Ct), "one user, one home: one lease row");
        return row;
    }

    private static HttpClient Terminal(Uri replica, string user)
    {
        var client = ReplicaCluster.Authorized(new HttpClient { BaseAddress = new Uri(replica, "/terminal/"), Timeout = TimeSpan.FromSeconds(60) });
        client.DefaultRequestHeaders.Add("X-User-Id", user);
        return client;
    }

    private static async Task<(HttpStatusCode Status, string? Replica)> RunAsync(HttpClient client, string command)
    {
        using var response = await client.PostAsync("execute?wait=20", Json.Body(new { command }), Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Contains("kept-across-replicas", text, StringComparison.Ordinal);
        return (response.StatusCode, response.Headers.TryGetValues("X-Warden-Replica", out var values) ? values.First() : null);
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null) await _cluster.DisposeAsync();
        // On Docker the killed replica's containers (its warm slots) outlive it: the daemon keeps them, and only that
        // replica's next start would reap them. Its containers' names start with its pid.
        if (_killed is int pid && TestBackend.Name == "docker") await RemoveContainersAsync($"^/warden-{pid}-");
        await _postgres.DisposeAsync();
        // The killed replica's mount of the home (and a loop device) outlives it: lazily unmounted, then the directory goes.
        if (!Directory.Exists(_homes)) return;
        foreach (var mount in File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')[4])
                     .Where(m => m.StartsWith(_homes + "/", StringComparison.Ordinal)).OrderByDescending(m => m.Length))
        {
            using var umount = Process.Start("umount", ["-l", mount]);
            await umount.WaitForExitAsync();
        }
        await Task.Delay(500);
        try { Directory.Delete(_homes, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
