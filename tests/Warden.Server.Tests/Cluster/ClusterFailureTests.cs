using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using Warden.Server.Tests.Data;
using static Warden.Server.Tests.Cluster.ClusterRoutingTests;

namespace Warden.Server.Tests.Cluster;

/// <summary>
/// Replicas that die (SIGKILL) or leave (SIGTERM) under load: their own sessions are lost and reported so, promptly and
/// by name; nothing else is: the other replicas keep serving and every recorded execution stays in the history.
/// Each test gets its own cluster (they kill replicas).
/// </summary>
public sealed class ClusterFailureTests : IAsyncLifetime
{
    private static readonly TimeSpan Bounded = TimeSpan.FromSeconds(10);
    private readonly PostgresCluster _postgres = new();
    private ReplicaCluster? _cluster;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        await _postgres.InitializeAsync();
        if (_postgres.Unavailable is null && File.Exists(NginxBalancer.Binary)) _cluster = await ReplicaCluster.StartAsync(_postgres, 3);
    }

    private ReplicaCluster Cluster
    {
        get
        {
            _postgres.Require();
            NginxBalancer.Require();
            return _cluster!;
        }
    }

    [Fact]
    public async Task Kill9_MidRun_ItsClientsGetErrorsNotHangs_OthersKeepServing_HistoryKeepsEverything()
    {
        var cluster = Cluster;
        const string victim = "r2";
        var recorded = new ConcurrentBag<string>();
        for (int i = 0; i < 12; i++)
        {
            using var response = await SendAsync(cluster.Client, HttpMethod.Post, "/api/v1/execute", new { language = "bash", code = "echo before" }, $"before-{i}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            recorded.Add((await Json.ReadAsync(response)).GetProperty("execution_id").GetString()!);
        }
        await HistoryHasAsync(cluster, "r1", recorded);

        using var createdSession = await SendAsync(cluster.Direct(victim), HttpMethod.Post, "/api/v1/sessions", new { language = "python" }, null);
        var session = (await Json.ReadAsync(createdSession)).GetProperty("id").GetString()!;
        using var createdKernel = await cluster.Direct(victim).PostAsync("/api/kernels", null, Ct);
        var kernel = (await Json.ReadAsync(createdKernel)).GetProperty("id").GetString()!;
        await using var socket = await KernelSocket.ConnectAsync(cluster.Replicas["r1"].Address, kernel, ReplicaCluster.ApiKey, Ct);
        Assert.Equal(victim, socket.Replica);
        Assert.Equal("2", (await socket.ExecuteAsync("1 + 1", Ct)).Result);

        // In flight when the victim dies: a cell forwarded through r1, a stateless run on the victim itself, a relayed socket's cell.
        var forwardedCell = SendAsync(cluster.Direct("r1"), HttpMethod.Post, $"/api/v1/sessions/{session}/execute", new { code = "import time; time.sleep(30)" }, null);
        var directRun = SendAsync(cluster.Direct(victim), HttpMethod.Post, "/api/v1/execute", new { language = "bash", code = "sleep 30", timeout = 40 }, "direct");
        var relayedCell = socket.ExecuteAsync("import time; time.sleep(30)", Ct);
        using var stopLoad = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var load = Enumerable.Range(0, 3).Select(worker => LoadAsync(cluster, worker, clock, stopLoad.Token)).ToList();
        await WaitUntilAsync(async () => (await Json.ReadAsync(await cluster.Direct(victim).GetAsync("/api/v1/stats", Ct))).GetProperty("active").GetInt32() > 0,
            "the victim to be running");
        await Task.Delay(500, Ct);

        await cluster.KillAsync(victim);
        var killed = Stopwatch.StartNew();
        var killedAt = clock.Elapsed;

        using (var cell = await forwardedCell.WaitAsync(Bounded, Ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, cell.StatusCode);
            var problem = await Json.ReadAsync(cell);
            Assert.EndsWith("owner-unreachable", problem.GetProperty("type").GetString());
            Assert.Equal(victim, problem.GetProperty("replica").GetString());
        }
        await Assert.ThrowsAsync<HttpRequestException>(() => directRun.WaitAsync(Bounded, Ct));
        var relayed = await Record.ExceptionAsync(() => relayedCell.WaitAsync(Bounded, Ct));
        Assert.IsType<WebSocketException>(relayed);
        Assert.Equal(WebSocketCloseStatus.InternalServerError, socket.CloseStatus);
        Assert.Contains(victim, socket.CloseDescription, StringComparison.Ordinal);
        Assert.True(killed.Elapsed < Bounded, $"the victim's clients were answered after {killed.Elapsed}");

        // Before it is declared dead: refused connection, 503 naming it, promptly. After: 410, whichever replica is asked.
        var asked = Stopwatch.StartNew();
        using (var early = await cluster.Direct("r1").GetAsync($"/api/v1/sessions/{session}", Ct))
        {
            Assert.Contains(early.StatusCode, new[] { HttpStatusCode.ServiceUnavailable, HttpStatusCode.Gone });
            Assert.Equal(victim, (await Json.ReadAsync(early)).GetProperty("replica").GetString());
        }
        Assert.True(asked.Elapsed < TimeSpan.FromSeconds(3), $"a request for the dead replica's session took {asked.Elapsed}");
        await WaitUntilAsync(async () =>
        {
            using var late = await cluster.Direct("r3").GetAsync($"/api/v1/sessions/{session}", Ct);
            if (late.StatusCode != HttpStatusCode.Gone) return false;
            var detail = (await Json.ReadAsync(late)).GetProperty("detail").GetString()!;
            Assert.Contains($"replica {victim}", detail, StringComparison.Ordinal);
            Assert.Contains("heartbeats", detail, StringComparison.Ordinal);
            return true;
        }, "410 for the dead replica's session", seconds: ReplicaCluster.DeadAfterSeconds * 3);
        using (var kernelGone = await cluster.Direct("r1").GetAsync($"/api/kernels/{kernel}", Ct))
            Assert.Equal(HttpStatusCode.Gone, kernelGone.StatusCode);

        await Task.Delay(TimeSpan.FromSeconds(2), Ct);
        await stopLoad.CancelAsync();
        var results = (await Task.WhenAll(load).WaitAsync(TimeSpan.FromSeconds(60), Ct)).SelectMany(r => r).ToList();
        var failed = results.Where(r => r.Status != HttpStatusCode.OK).ToList();
        // Only requests the victim was running when it died may fail (nginx answers them 502); nginx then sends the rest elsewhere.
        Assert.True(failed.Count <= 3, $"{failed.Count} of {results.Count} failed: {string.Join(", ", failed.Select(f => $"{(int)f.Status} at {f.Started}"))}");
        Assert.All(failed, f => Assert.Equal(HttpStatusCode.BadGateway, f.Status));
        var settled = killedAt + TimeSpan.FromSeconds(1);
        Assert.All(results.Where(r => r.Started > settled), r => Assert.Equal(HttpStatusCode.OK, r.Status));
        Assert.DoesNotContain(results.Where(r => r.Started > settled), r => r.Replica == victim);
        Assert.True(results.Count(r => r.Started > killedAt && r.Status == HttpStatusCode.OK) >= 10, "the other replicas kept serving after the kill");

        foreach (var r in results.Where(r => r.Status == HttpStatusCode.OK)) recorded.Add(r.ExecutionId!);
        await HistoryHasAsync(cluster, "r3", recorded);
    }

    [Fact]
    public async Task GracefulStop_ItsSessionsAreGoneAtOnce_TerminalsMoveOn_AndARestartUnderTheSameIdIsReported()
    {
        var cluster = Cluster;
        const string leaving = "r3";
        using var createdSession = await SendAsync(cluster.Direct(leaving), HttpMethod.Post, "/api/v1/sessions", new { language = "bash" }, null);
        var session = (await Json.ReadAsync(createdSession)).GetProperty("id").GetString()!;
        const string user = "graceful-user";
        Assert.Equal("1\n", await TerminalAsync(cluster.Direct(leaving), user, "echo x >> n.txt; wc -l < n.txt", expect: HttpStatusCode.OK));
        Assert.Equal("2\n", await TerminalAsync(cluster.Direct("r1"), user, "echo x >> n.txt; wc -l < n.txt", expect: HttpStatusCode.OK));

        await cluster.StopAsync(leaving);

        using (var gone = await cluster.Direct("r1").GetAsync($"/api/v1/sessions/{session}", Ct))
        {
            Assert.Equal(HttpStatusCode.Gone, gone.StatusCode);
            Assert.Contains($"replica {leaving}, which shut down", (await Json.ReadAsync(gone)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        // The user is told once that their sandbox went with the replica; the retry gets a fresh one here.
        var lost = await TerminalAsync(cluster.Direct("r2"), user, "wc -l < n.txt", expect: HttpStatusCode.Gone);
        Assert.Contains("Retry", lost, StringComparison.Ordinal);
        Assert.Equal("1\n", await TerminalAsync(cluster.Direct("r2"), user, "echo x >> n.txt; wc -l < n.txt", expect: HttpStatusCode.OK));

        // Others kept serving throughout.
        using (var run = await SendAsync(cluster.Client, HttpMethod.Post, "/api/v1/execute", new { language = "bash", code = "echo ok" }, "graceful"))
            Assert.Equal(HttpStatusCode.OK, run.StatusCode);

        var restarted = await cluster.StartReplicaAsync(leaving);
        await WaitUntilAsync(async () =>
        {
            using var answer = await cluster.Direct("r1").GetAsync($"/api/v1/sessions/{session}", Ct);
            return answer.StatusCode == HttpStatusCode.Gone
                && (await Json.ReadAsync(answer)).GetProperty("detail").GetString()!.Contains("restarted", StringComparison.Ordinal);
        }, "410 naming the restart", seconds: 10);
        using var fresh = await SendAsync(restarted.Client, HttpMethod.Post, "/api/v1/sessions", new { language = "bash" }, null);
        var id = (await Json.ReadAsync(fresh)).GetProperty("id").GetString()!;
        using var viaOther = await SendAsync(cluster.Direct("r1"), HttpMethod.Post, $"/api/v1/sessions/{id}/execute", new { code = "echo $((40 + 2))" }, null);
        Assert.Equal("42\n", (await Json.ReadAsync(viaOther)).GetProperty("stdout").GetString());
        Assert.Equal(leaving, ReplicaOf(viaOther));
    }

    [Fact]
    public async Task DatabaseOutage_LongerThanDeadAfter_SessionsKeepWorking_AndNothingIsDeclaredLostAfterwards()
    {
        var cluster = Cluster;
        using var createdSession = await SendAsync(cluster.Direct("r2"), HttpMethod.Post, "/api/v1/sessions", new { language = "python" }, null);
        var session = (await Json.ReadAsync(createdSession)).GetProperty("id").GetString()!;
        using (await SendAsync(cluster.Direct("r2"), HttpMethod.Post, $"/api/v1/sessions/{session}/execute", new { code = "x = 41" }, null)) { }
        const string user = "outage-user";
        Assert.Equal("1\n", await TerminalAsync(cluster.Direct("r1"), user, "echo x >> n.txt; wc -l < n.txt", expect: HttpStatusCode.OK));
        // r1 routes r2's session from memory during the outage: it must have seen r2's current incarnation first (a cluster
        // just started, as when this test runs first, may not have refreshed its view since r2 joined).
        await SeesAsync(cluster, "r1", "r2");

        await _postgres.StopAsync();
        string queued;
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(ReplicaCluster.DeadAfterSeconds * 2), Ct);
            // Sessions are routed from memory by the owner tag in their id: they keep working while the database is away.
            using var during = await SendAsync(cluster.Direct("r1"), HttpMethod.Post, $"/api/v1/sessions/{session}/execute", new { code = "x + 1" }, null);
            // CI saw one 503 here under a loaded full run (not reproduced): the answer says which problem it was.
            Assert.True(during.StatusCode == HttpStatusCode.OK, $"{(int)during.StatusCode}: {await during.Content.ReadAsStringAsync(Ct)}");
            Assert.Equal("42", (await Json.ReadAsync(during)).GetProperty("result").GetString());
            // A new session must be recorded (and counted against the cluster-wide cap): refused, clearly, until the database is back.
            using var refused = await SendAsync(cluster.Direct("r1"), HttpMethod.Post, "/api/v1/sessions", new { language = "python" }, null);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.NotNull(refused.Headers.RetryAfter);
            Assert.EndsWith("cluster-database-unavailable", (await Json.ReadAsync(refused)).GetProperty("type").GetString());
            // Stateless runs go on: their answers do not wait for the history while it cannot be written; their records queue.
            var answered = Stopwatch.StartNew();
            using var run = await SendAsync(cluster.Direct("r1"), HttpMethod.Post, "/api/v1/execute", new { language = "bash", code = "echo outage" }, null);
            Assert.Equal(HttpStatusCode.OK, run.StatusCode);
            Assert.True(answered.Elapsed < TimeSpan.FromSeconds(5), $"an execution during the outage took {answered.Elapsed}");
            queued = (await Json.ReadAsync(run)).GetProperty("execution_id").GetString()!;
            // What needs the database says so: 503, retry later, and no database message (hosts, sockets) in the answer.
            using var history = await cluster.Direct("r2").GetAsync("/api/v1/executions", Ct);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, history.StatusCode);
            Assert.NotNull(history.Headers.RetryAfter);
            var problem = await Json.ReadAsync(history);
            Assert.EndsWith("database-unavailable", problem.GetProperty("type").GetString());
            Assert.DoesNotContain("/tmp", problem.GetRawText(), StringComparison.Ordinal);
        }
        finally
        {
            await _postgres.StartAsync();
        }

        // Every heartbeat looked old when the database came back: nobody may be declared dead for that.
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(ReplicaCluster.DeadAfterSeconds * 3))
        {
            using var after = await SendAsync(cluster.Direct("r3"), HttpMethod.Post, $"/api/v1/sessions/{session}/execute", new { code = "x + 1" }, null);
            Assert.True(after.StatusCode == HttpStatusCode.OK, $"after the outage: {after.StatusCode} {await after.Content.ReadAsStringAsync(Ct)}");
            await Task.Delay(500, Ct);
        }
        Assert.Equal("2\n", await TerminalAsync(cluster.Direct("r2"), user, "echo x >> n.txt; wc -l < n.txt", expect: HttpStatusCode.OK));
        var view = await Json.ReadAsync(await cluster.Direct("r2").GetAsync("/api/v1/cluster", Ct));
        Assert.Equal(["live", "live", "live"], view.GetProperty("replicas").EnumerateArray().Select(r => r.GetProperty("state").GetString()));
        await HistoryHasAsync(cluster, "r2", [queued]);
    }

    /// <summary>Waits until <paramref name="viewer"/>'s view of the cluster has <paramref name="seen"/> live, in the incarnation it reports itself.</summary>
    private static async Task SeesAsync(ReplicaCluster cluster, string viewer, string seen)
    {
        static async Task<JsonElement?> RowAsync(ReplicaCluster cluster, string from, string id)
        {
            var view = await Json.ReadAsync(await cluster.Direct(from).GetAsync("/api/v1/cluster", Ct));
            return view.GetProperty("replicas").EnumerateArray().Where(r => r.GetProperty("id").GetString() == id).Select(r => (JsonElement?)r).FirstOrDefault();
        }
        var own = (await RowAsync(cluster, seen, seen))!.Value.GetProperty("started_at").GetString();
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var row = await RowAsync(cluster, viewer, seen);
            if (row is { } r && r.GetProperty("state").GetString() == "live" && r.GetProperty("started_at").GetString() == own) return;
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), $"{viewer} does not see {seen} (started {own}) live: {row}");
            await Task.Delay(100, Ct);
        }
    }

    private static async Task<string> TerminalAsync(HttpClient client, string user, string command, HttpStatusCode expect)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/terminal/execute?wait=20") { Content = Json.Body(new { command }) };
        request.Headers.Add("X-User-Id", user);
        using var response = await client.SendAsync(request, Ct).WaitAsync(TimeSpan.FromSeconds(60), Ct);
        var body = await Json.ReadAsync(response);
        Assert.True(expect == response.StatusCode, $"expected {expect}, got {response.StatusCode}: {body}");
        return expect == HttpStatusCode.OK
            ? string.Concat(body.GetProperty("output").EnumerateArray().Select(o => o.GetProperty("data").GetString()))
            : body.GetProperty("detail").GetString()!;
    }

    private static async Task HistoryHasAsync(ReplicaCluster cluster, string replica, IEnumerable<string> ids)
    {
        var wanted = ids.ToHashSet();
        await WaitUntilAsync(async () =>
        {
            // Every page, newest first: the load may have recorded more rows than one page holds.
            var seen = new HashSet<string>();
            for (string? cursor = null; ;)
            {
                var page = await Json.ReadAsync(await cluster.Direct(replica).GetAsync("/api/v1/executions?limit=500" + (cursor is null ? "" : "&cursor=" + cursor), Ct));
                seen.UnionWith(page.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetString()!));
                if (page.GetProperty("next_cursor").ValueKind != System.Text.Json.JsonValueKind.String) break;
                cursor = page.GetProperty("next_cursor").GetString();
            }
            return wanted.IsSubsetOf(seen);
        }, $"{wanted.Count} executions in the shared history");
    }

    private sealed record LoadResult(HttpStatusCode Status, string? Replica, string? ExecutionId, TimeSpan Started);

    /// <summary>Stateless executions through nginx, one after another, until stopped; each result with when it started.</summary>
    private static async Task<List<LoadResult>> LoadAsync(ReplicaCluster cluster, int worker, Stopwatch clock, CancellationToken stop)
    {
        var results = new List<LoadResult>();
        for (int i = 0; !stop.IsCancellationRequested; i++)
        {
            var started = clock.Elapsed;
            try
            {
                using var response = await SendAsync(cluster.Client, HttpMethod.Post, "/api/v1/execute", new { language = "bash", code = "echo load" }, $"load-{worker}-{i}");
                string? id = response.StatusCode == HttpStatusCode.OK ? (await Json.ReadAsync(response)).GetProperty("execution_id").GetString() : null;
                results.Add(new LoadResult(response.StatusCode, ReplicaOf(response), id, started));
            }
            catch (HttpRequestException)
            {
                results.Add(new LoadResult(0, null, null, started));
            }
        }
        return results;
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null) await _cluster.DisposeAsync();
        await _postgres.DisposeAsync();
    }
}
