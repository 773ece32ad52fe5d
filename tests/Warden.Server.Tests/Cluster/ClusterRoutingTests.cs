using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text.Json;

namespace Warden.Server.Tests.Cluster;

/// <summary>
/// Three real replicas (separate `warden serve` processes) sharing a real PostgreSQL, behind real nginx round-robin: what
/// a client of the balancer sees. Stateless work lands anywhere; sessions, kernels (REST and WebSocket) and terminals
/// keep their state whichever replica nginx picks; lists and limits are cluster-wide; forwarding keeps auth.
/// </summary>
public sealed class ClusterRoutingTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ReplicaCluster Cluster
    {
        get
        {
            fixture.Require();
            return fixture.Cluster;
        }
    }

    [Fact]
    public async Task StatelessExecutions_ThroughTheBalancer_AreSpreadOverEveryReplicaAndAllRecorded()
    {
        var cluster = Cluster;
        var served = new ConcurrentBag<(string Id, string Replica)>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 30), new ParallelOptions { MaxDegreeOfParallelism = 6, CancellationToken = Ct }, async (i, ct) =>
        {
            using var response = await SendAsync(cluster.Client, HttpMethod.Post, "/api/v1/execute", new { language = "bash", code = $"echo {i}" }, user: $"spread-{i}");
            var body = await Json.ReadAsync(response);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal($"{i}\n", body.GetProperty("stdout").GetString());
            served.Add((body.GetProperty("execution_id").GetString()!, ReplicaOf(response)!));
        });
        var byReplica = served.GroupBy(s => s.Replica).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(["r1", "r2", "r3"], byReplica.Keys.Order());
        Assert.All(byReplica.Values, count => Assert.True(count >= 5, $"uneven spread: {string.Join(", ", byReplica)}"));

        // Every replica writes to the one history: any replica lists what all of them ran.
        var ids = served.Select(s => s.Id).ToHashSet();
        await WaitUntilAsync(async () =>
        {
            var page = await Json.ReadAsync(await cluster.Direct("r2").GetAsync("/api/v1/executions?limit=500", Ct));
            return ids.IsSubsetOf(page.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetString()!));
        }, "every execution in the shared history");

        var view = await Json.ReadAsync(await cluster.Client.GetAsync("/api/v1/cluster", Ct));
        Assert.Equal(["live", "live", "live"], view.GetProperty("replicas").EnumerateArray().Select(r => r.GetProperty("state").GetString()));
    }

    [Fact]
    public async Task NativeSession_ThroughTheBalancer_KeepsItsStateWhicheverReplicaIsPicked()
    {
        var cluster = Cluster;
        var user = "session-" + Guid.NewGuid().ToString("N")[..8];
        using var created = await SendAsync(cluster.Client, HttpMethod.Post, "/api/v1/sessions", new { language = "python", user }, user);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await Json.ReadAsync(created)).GetProperty("id").GetString()!;
        var owner = ReplicaOf(created)!;

        var entries = new HashSet<string>();
        using (var first = await SendAsync(cluster.Client, HttpMethod.Post, $"/api/v1/sessions/{id}/execute", new { code = "x = 41" }, user))
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        for (int i = 0; i < 6; i++)
        {
            using var response = await SendAsync(cluster.Client, HttpMethod.Post, $"/api/v1/sessions/{id}/execute", new { code = "x + 1" }, user);
            var body = await Json.ReadAsync(response);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("42", body.GetProperty("result").GetString());
            Assert.Equal(owner, ReplicaOf(response));
            entries.Add(Header(response, "X-Warden-Via") ?? owner);
        }
        Assert.Equal(["r1", "r2", "r3"], entries.Order());

        foreach (var replica in new[] { "r1", "r2", "r3" })
        {
            using var direct = await cluster.Direct(replica).GetAsync($"/api/v1/sessions/{id}", Ct);
            Assert.Equal(HttpStatusCode.OK, direct.StatusCode);
            Assert.Equal(owner, ReplicaOf(direct));
        }
        var other = new[] { "r1", "r2", "r3" }.First(r => r != owner);
        Assert.Equal(HttpStatusCode.NoContent, (await cluster.Direct(other).DeleteAsync($"/api/v1/sessions/{id}", Ct)).StatusCode);
        using var gone = await cluster.Client.GetAsync($"/api/v1/sessions/{id}", Ct);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        Assert.Equal("application/problem+json", gone.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task JupyterKernel_RestAndWebSocket_ThroughTheBalancer_KeepState()
    {
        var cluster = Cluster;
        using var created = await cluster.Client.PostAsync("/api/kernels", null, Ct);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await Json.ReadAsync(created)).GetProperty("id").GetString()!;
        var owner = ReplicaOf(created)!;
        Assert.True(Guid.TryParse(id, out _), $"kernel ids stay UUIDs: {id}");
        foreach (var replica in new[] { "r1", "r2", "r3" })
        {
            using var direct = await cluster.Direct(replica).GetAsync($"/api/kernels/{id}", Ct);
            Assert.Equal(HttpStatusCode.OK, direct.StatusCode);
            Assert.Equal(owner, ReplicaOf(direct));
        }

        // Each new connection through nginx may land on another replica; the kernel's state is the same on all of them.
        await using (var socket = await KernelSocket.ConnectAsync(cluster.Balancer.Address, id, ReplicaCluster.ApiKey, Ct))
        {
            Assert.Equal(owner, socket.Replica);
            await socket.ExecuteAsync("x = 41", Ct);
        }
        foreach (var entry in new[] { cluster.Balancer.Address, cluster.Balancer.Address, cluster.Replicas["r1"].Address, cluster.Replicas["r2"].Address,
                     cluster.Replicas["r3"].Address })
        {
            await using var socket = await KernelSocket.ConnectAsync(entry, id, ReplicaCluster.ApiKey, Ct);
            Assert.Equal(owner, socket.Replica);
            var (stdout, result) = await socket.ExecuteAsync("print('hi'); x + 1", Ct);
            Assert.Equal("hi\n", stdout);
            Assert.Equal("42", result);
        }

        var other = new[] { "r1", "r2", "r3" }.First(r => r != owner);
        using (var deleted = await cluster.Direct(other).DeleteAsync($"/api/kernels/{id}", Ct))
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        var refused = await Assert.ThrowsAsync<WebSocketException>(() => KernelSocket.ConnectAsync(cluster.Replicas[other].Address, id, ReplicaCluster.ApiKey, Ct));
        Assert.Contains("404", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JupyterClients_JupyterLabServicesAndOpenWebUiSequence_PassThroughTheBalancer()
    {
        var cluster = Cluster;
        var tests = Path.Combine(RepositoryRoot(), "tests", "jupyter-client");
        if (!Directory.Exists(Path.Combine(tests, "node_modules", "@jupyterlab", "services")))
        {
            const string reason = "tests/jupyter-client/node_modules is missing (scripts/test.d/jupyter-deps.sh runs npm ci)";
            if (Environment.GetEnvironmentVariable("CI") == "true" || Environment.GetEnvironmentVariable("WARDEN_REQUIRE_SANDBOX") == "1") Assert.Fail(reason);
            Assert.Skip(reason);
        }
        var start = new ProcessStartInfo("node") { WorkingDirectory = tests, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--test", "--test-concurrency=1", "test/" }) start.ArgumentList.Add(a);
        start.Environment["WARDEN_URL"] = cluster.Balancer.Address.ToString().TrimEnd('/');
        start.Environment["WARDEN_TOKEN"] = ReplicaCluster.ApiKey;
        start.Environment["WARDEN_PASSWORD"] = ClusterFixture.Settings["WARDEN_JUPYTER_PASSWORD"];
        using var node = Process.Start(start)!;
        var output = node.StandardOutput.ReadToEndAsync(Ct);
        var errors = node.StandardError.ReadToEndAsync(Ct);
        await node.WaitForExitAsync(Ct).WaitAsync(TimeSpan.FromMinutes(5), Ct);
        var text = await output + await errors;
        // The replicas' errors first: a failing client only sees "500".
        Assert.True(node.ExitCode == 0, $"node --test failed through the balancer:\n{ErrorLines(cluster.Logs())}\n{text}");
        Assert.Contains("# fail 0", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SessionAndKernelLists_ShowTheSessionsOfEveryReplica()
    {
        var cluster = Cluster;
        var user = "list-" + Guid.NewGuid().ToString("N")[..8];
        var sessions = new List<string>();
        var kernels = new List<string>();
        foreach (var replica in new[] { "r1", "r2", "r3" })
        {
            using var session = await SendAsync(cluster.Direct(replica), HttpMethod.Post, "/api/v1/sessions", new { language = "bash", user }, user);
            sessions.Add((await Json.ReadAsync(session)).GetProperty("id").GetString()!);
            using var kernel = await cluster.Direct(replica).PostAsync("/api/kernels", null, Ct);
            kernels.Add((await Json.ReadAsync(kernel)).GetProperty("id").GetString()!);
        }
        try
        {
            using var listed = await cluster.Direct("r2").GetAsync($"/api/v1/sessions?user={user}", Ct);
            Assert.False(listed.Headers.Contains("X-Warden-Incomplete"));
            Assert.Equal(sessions.Order(), (await Json.ReadAsync(listed)).EnumerateArray().Select(s => s.GetProperty("id").GetString()!).Order());
            using var running = await cluster.Direct("r1").GetAsync("/api/kernels", Ct);
            var ids = (await Json.ReadAsync(running)).EnumerateArray().Select(k => k.GetProperty("id").GetString()!).ToList();
            Assert.All(kernels, k => Assert.Contains(k, ids));
        }
        finally
        {
            foreach (var id in sessions) await cluster.Client.DeleteAsync($"/api/v1/sessions/{id}", Ct);
            foreach (var id in kernels) await cluster.Client.DeleteAsync($"/api/kernels/{id}", Ct);
        }
    }

    [Fact]
    public async Task Terminal_ThroughTheBalancer_StaysWithTheUsersSandboxAndHome()
    {
        var cluster = Cluster;
        var user = "term-" + Guid.NewGuid().ToString("N")[..8];
        var replicas = new HashSet<string>();
        for (int i = 1; i <= 6; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/terminal/execute?wait=20")
            {
                Content = Json.Body(new { command = "echo x >> count.txt; wc -l < count.txt" }),
            };
            request.Headers.Add("X-User-Id", user);
            using var response = await cluster.Client.SendAsync(request, Ct);
            var body = await Json.ReadAsync(response);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var output = string.Concat(body.GetProperty("output").EnumerateArray().Select(o => o.GetProperty("data").GetString()));
            Assert.Equal($"{i}\n", output);
            replicas.Add(ReplicaOf(response)!);
        }
        Assert.Single(replicas);
    }

    [Fact]
    public async Task RateLimit_IsCountedAcrossReplicas_NotPerReplica()
    {
        var cluster = Cluster;
        var user = "rate-" + Guid.NewGuid().ToString("N")[..8];
        int ok = 0, limited = 0;
        var served = new HashSet<string>();
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < 30; i++)
        {
            using var response = await SendAsync(cluster.Client, HttpMethod.Post, "/api/v1/execute", new { language = "bash", code = "true" }, user);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                ok++;
                served.Add(ReplicaOf(response)!);
            }
            else
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
                Assert.EndsWith("rate-limited", (await Json.ReadAsync(response)).GetProperty("type").GetString());
                Assert.NotNull(response.Headers.RetryAfter);
                limited++;
            }
        }
        // Burst 20, refilled at 20/min: one replica's worth in all; three independent limiters would have let all 30 through.
        var refilled = (int)(watch.Elapsed.TotalMinutes * 20);
        Assert.InRange(ok, 20, 20 + refilled + 1);
        Assert.Equal(30, ok + limited);
        Assert.True(served.Count >= 2, "the executions that were allowed ran on several replicas");
    }

    [Fact]
    public async Task ConcurrencyCap_IsCountedAcrossReplicas()
    {
        var cluster = Cluster;
        var user = "conc-" + Guid.NewGuid().ToString("N")[..8];
        var calls = Enumerable.Range(0, 6).Select(async _ =>
        {
            using var response = await SendAsync(cluster.Client, HttpMethod.Post, "/api/v1/execute", new { language = "bash", code = "sleep 3" }, user);
            return (response.StatusCode, response.StatusCode == HttpStatusCode.OK ? null : (await Json.ReadAsync(response)).GetProperty("type").GetString());
        }).ToList();
        var results = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.Equal(2, results.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.All(results.Where(r => r.StatusCode != HttpStatusCode.OK), r =>
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, r.StatusCode);
            Assert.EndsWith("too-many-concurrent", r.Item2);
        });
    }

    [Fact]
    public async Task SessionsPerUserCap_IsCountedAcrossReplicas()
    {
        var cluster = Cluster;
        var user = "cap-" + Guid.NewGuid().ToString("N")[..8];
        var ids = new List<string>();
        try
        {
            var owners = new HashSet<string>();
            for (int i = 0; i < 5; i++)
            {
                using var created = await SendAsync(cluster.Client, HttpMethod.Post, "/api/v1/sessions", new { language = "bash", user }, user);
                Assert.Equal(HttpStatusCode.Created, created.StatusCode);
                ids.Add((await Json.ReadAsync(created)).GetProperty("id").GetString()!);
                owners.Add(ReplicaOf(created)!);
            }
            Assert.Equal(3, owners.Count);
            using var refused = await SendAsync(cluster.Client, HttpMethod.Post, "/api/v1/sessions", new { language = "bash", user }, user);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Contains("across all replicas", (await Json.ReadAsync(refused)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            foreach (var id in ids) await cluster.Client.DeleteAsync($"/api/v1/sessions/{id}", Ct);
        }
    }

    [Fact]
    public async Task AnotherKeysSessionAndKernel_ThroughAnyReplica_AnswerLikeMissingIds()
    {
        // Forwarding keeps the caller's credentials, and the owner checks them: no replica is a way around ownership.
        var cluster = Cluster;
        HttpClient KeyClient(string replica, string key)
        {
            var client = new HttpClient { BaseAddress = cluster.Direct(replica).BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
            return client;
        }
        async Task<string> NewKeyAsync(string name)
        {
            var (created, body) = await Json.PostAsync(cluster.Client, "/api/v1/admin/keys", new { name, scopes = new[] { "execute" } });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            return body.GetProperty("key").GetString()!;
        }
        var keyA = await NewKeyAsync("cluster-tenant-a");
        var keyB = await NewKeyAsync("cluster-tenant-b");
        using var a = KeyClient("r1", keyA);
        var (created, session) = await Json.PostAsync(a, "/api/v1/sessions", new { language = "python" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = session.GetProperty("id").GetString()!;
        await Json.PostAsync(a, $"/api/v1/sessions/{id}/execute", new { code = "secret = 'cluster-a'" });
        using var kernelCreated = await a.PostAsync("/api/kernels", null, Ct);
        var kernel = (await Json.ReadAsync(kernelCreated)).GetProperty("id").GetString()!;
        try
        {
            foreach (var replica in new[] { "r1", "r2", "r3" })
            {
                using var b = KeyClient(replica, keyB);
                var (execute, _) = await Json.PostAsync(b, $"/api/v1/sessions/{id}/execute", new { code = "secret" });
                Assert.Equal(HttpStatusCode.NotFound, execute.StatusCode);
                Assert.Equal(HttpStatusCode.NotFound, (await b.DeleteAsync($"/api/v1/sessions/{id}", Ct)).StatusCode);
                Assert.Equal(HttpStatusCode.NotFound, (await b.GetAsync($"/api/kernels/{kernel}", Ct)).StatusCode);
                Assert.Equal(HttpStatusCode.NotFound, (await b.DeleteAsync($"/api/kernels/{kernel}", Ct)).StatusCode);
                var lists = (await b.GetStringAsync("/api/v1/sessions", Ct)) + await b.GetStringAsync("/api/kernels", Ct);
                Assert.DoesNotContain(id, lists, StringComparison.Ordinal);
                Assert.DoesNotContain(kernel, lists, StringComparison.Ordinal);
                await Assert.ThrowsAsync<WebSocketException>(() => KernelSocket.ConnectAsync(b.BaseAddress!, kernel, keyB, Ct));
            }
            using var again = KeyClient("r3", keyA);
            var (_, still) = await Json.PostAsync(again, $"/api/v1/sessions/{id}/execute", new { code = "secret" });
            Assert.Equal("'cluster-a'", still.GetProperty("result").GetString());
            Assert.Contains(kernel, await again.GetStringAsync("/api/kernels", Ct), StringComparison.Ordinal);
        }
        finally
        {
            await a.DeleteAsync($"/api/v1/sessions/{id}", Ct);
            await a.DeleteAsync($"/api/kernels/{kernel}", Ct);
        }
    }

    [Fact]
    public async Task Interrupt_ThroughAnotherReplica_IsForwardedAsNoContent()
    {
        // 204 answers carry no body: forwarding one must not try to write one (CI saw a 500 on a kernel interrupt once).
        var cluster = Cluster;
        using var created = await cluster.Direct("r2").PostAsync("/api/kernels", null, Ct);
        var kernel = (await Json.ReadAsync(created)).GetProperty("id").GetString()!;
        using var session = await SendAsync(cluster.Direct("r2"), HttpMethod.Post, "/api/v1/sessions", new { language = "python" }, null);
        var id = (await Json.ReadAsync(session)).GetProperty("id").GetString()!;
        try
        {
            foreach (var replica in new[] { "r1", "r3", "r2" })
            {
                using var kernelInterrupt = await cluster.Direct(replica).PostAsync($"/api/kernels/{kernel}/interrupt", null, Ct);
                Assert.True(kernelInterrupt.StatusCode == HttpStatusCode.NoContent, $"{replica}: {kernelInterrupt.StatusCode} {await kernelInterrupt.Content.ReadAsStringAsync(Ct)}");
                using var sessionInterrupt = await cluster.Direct(replica).PostAsync($"/api/v1/sessions/{id}/interrupt", null, Ct);
                Assert.True(sessionInterrupt.IsSuccessStatusCode, $"{replica}: {sessionInterrupt.StatusCode} {await sessionInterrupt.Content.ReadAsStringAsync(Ct)}");
            }
            // And while a cell runs: interrupted through r1, the cell (run through r3) ends at once.
            var cell = SendAsync(cluster.Direct("r3"), HttpMethod.Post, $"/api/v1/sessions/{id}/execute", new { code = "import time\nprint('sleeping', flush=True)\ntime.sleep(30)" }, null);
            await Task.Delay(1000, Ct);
            using (var interrupt = await cluster.Direct("r1").PostAsync($"/api/v1/sessions/{id}/interrupt", null, Ct))
                Assert.True(interrupt.IsSuccessStatusCode, $"{interrupt.StatusCode} {await interrupt.Content.ReadAsStringAsync(Ct)}");
            using var ended = await cell.WaitAsync(TimeSpan.FromSeconds(10), Ct);
            Assert.Contains("KeyboardInterrupt", (await Json.ReadAsync(ended)).GetRawText(), StringComparison.Ordinal);
        }
        finally
        {
            await cluster.Client.DeleteAsync($"/api/v1/sessions/{id}", Ct);
            await cluster.Client.DeleteAsync($"/api/kernels/{kernel}", Ct);
        }
    }

    [Fact]
    public async Task Forwarding_KeepsAuthSemantics_AndIgnoresClientRoutingHeaders()
    {
        var cluster = Cluster;
        using var created = await cluster.Direct("r2").PostAsync("/api/kernels", null, Ct);
        var kernel = (await Json.ReadAsync(created)).GetProperty("id").GetString()!;
        using var session = await SendAsync(cluster.Direct("r2"), HttpMethod.Post, "/api/v1/sessions", new { language = "bash" }, "auth-user");
        var id = (await Json.ReadAsync(session)).GetProperty("id").GetString()!;
        try
        {
            using var anonymous = new HttpClient { BaseAddress = cluster.Replicas["r1"].Address };
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"/api/v1/sessions/{id}", Ct)).StatusCode);
            // A token presented and refused is 401; no credentials at all would be jupyter_server's 403.
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync($"/api/kernels/{kernel}?token=wrong", Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.GetAsync($"/api/kernels/{kernel}", Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync($"/api/kernels/{kernel}?token={ReplicaCluster.ApiKey}", Ct)).StatusCode);

            // A client cannot pose as a forwarding replica: without a key it is refused before routing, with one it is misdirected.
            using var spoofed = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/sessions/{id}");
            spoofed.Headers.Add("X-Warden-Owner", "r1/forged");
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.SendAsync(spoofed, Ct)).StatusCode);
            using var misdirected = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/sessions/{id}");
            misdirected.Headers.Add("X-Warden-Owner", "r2/forged");
            using var answer = await cluster.Direct("r1").SendAsync(misdirected, Ct);
            Assert.Equal(HttpStatusCode.MisdirectedRequest, answer.StatusCode);
        }
        finally
        {
            await cluster.Client.DeleteAsync($"/api/v1/sessions/{id}", Ct);
            await cluster.Client.DeleteAsync($"/api/kernels/{kernel}", Ct);
        }
    }

    internal static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, object? body, string? user)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : Json.Body(body) };
        if (user is not null) request.Headers.Add("X-User-Id", user);
        return await client.SendAsync(request, Ct).WaitAsync(TimeSpan.FromSeconds(90), Ct);
    }

    internal static string? ReplicaOf(HttpResponseMessage response) => Header(response, "X-Warden-Replica");

    internal static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    internal static string ErrorLines(string logs) => string.Join("\n", logs.Split('\n')
        .Where(l => l.StartsWith("---", StringComparison.Ordinal) || l.Contains("fail:", StringComparison.Ordinal)
            || l.Contains("Exception", StringComparison.Ordinal) || l.TrimStart().StartsWith("at ", StringComparison.Ordinal))
        .Take(60));

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, double seconds = 20)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > TimeSpan.FromSeconds(seconds)) Assert.Fail($"timed out waiting for {what}");
            await Task.Delay(100, Ct);
        }
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Warden.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Warden.slnx not found above " + AppContext.BaseDirectory);
    }
}
