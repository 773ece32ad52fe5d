using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Warden.Server.Data;
using Warden.Server.History;
using Warden.Server.Tests.Lifecycle;

namespace Warden.Load.Tests;

/// <summary>
/// Saturation: many more concurrent clients than sandboxes, with per-user rate limits and a concurrency cap, against a
/// real <c>warden serve</c> on loopback. Every request must be answered (a result, 429 or 503), every answered execution
/// must reach the history and the audit log, and the host must hold exactly what it held before.
/// </summary>
public sealed class SaturationTests : IDisposable
{
    private const string AdminKey = "load-test-admin-key";
    private const int Clients = 24;
    private const int Users = 6;
    private readonly string _state = StateDirectory();

    [Fact]
    public async Task Saturation_EveryRequestAnswered_NothingLost_NothingLeaked()
    {
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("WARDEN_LOAD_SECONDS"), out var s) ? s : 120;
        var before = HostFootprint.Take(_state, instance: null);
        var outcomes = new ConcurrentBag<Outcome>();
        string instance;
        HostFootprint idleAtStart, idleAfterLoad;
        int hierarchies;
        string serverErrors;
        static bool all500(IEnumerable<Outcome> seen) => seen.Any(o => o.Status >= 500 && o.Status != 503);
        Dictionary<string, double> metrics;

        await using (var server = await ServeProcess.StartAsync(_state, new()
        {
            ["WARDEN_API_KEY"] = AdminKey, ["WARDEN_MAX_CONCURRENT"] = "2", ["WARDEN_MAX_QUEUE"] = "6",
            ["RATE_LIMIT_PER_MINUTE"] = "300", ["RATE_LIMIT_BURST"] = "4", ["WARDEN_MAX_CONCURRENT_PER_USER"] = "3",
            ["WARDEN_SHUTDOWN_GRACE"] = "20",
            // The warm pool is on by default and grows under load; it gives a sandbox back every second without a miss,
            // so its return to the floor is seen within the test.
            ["WARDEN_POOL_SHRINK_AFTER"] = "1",
        }))
        {
            server.Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
            instance = (await JsonAsync(server.Client, "/api/v1/health")).GetProperty("backend_info").GetProperty("instance").GetString()!;
            idleAtStart = await SettledFootprintAsync(instance, until: null);
            hierarchies = HostFootprint.Hierarchies(instance);

            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 256, PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
            using var client = new HttpClient(handler) { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(120) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
            var deadline = Stopwatch.StartNew();
            var workers = Enumerable.Range(0, Clients).Select(w => Task.Run(async () =>
            {
                var random = new Random(w);
                for (int n = 0; deadline.Elapsed < TimeSpan.FromSeconds(seconds); n++)
                {
                    var outcome = await OneRequestAsync(client, $"u{w % Users}", w, n, random);
                    outcomes.Add(outcome);
                    // Refused callers come back soon, but not in a hot loop (Retry-After says 1 s; impatient clients retry sooner).
                    if (outcome.Status is 429 or 503) await Task.Delay(random.Next(20, 200));
                }
            })).ToList();
            await Task.WhenAll(workers);
            var elapsed = deadline.Elapsed;

            // A 500 is a bug: keep the server's own account of it (its exception) for the failure message below.
            serverErrors = all500(outcomes) ? string.Join("\n", server.Output.Split('\n').Where(l => l.Contains("fail:", StringComparison.Ordinal)
                || l.Contains("Exception", StringComparison.Ordinal) || l.StartsWith("   at ", StringComparison.Ordinal)).Take(60)) : "";
            await WaitIdleAsync(server.Client);
            var floor = idleAtStart.Processes;
            idleAfterLoad = await SettledFootprintAsync(instance, until: f => f.Processes == floor);
            metrics = ParseMetrics(await server.Client.GetStringAsync("/metrics", TestContext.Current.CancellationToken));
            Report(outcomes, elapsed);

            server.Signal(15);
            Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        }
        var after = HostFootprint.Take(_state, instance);

        // Every request answered, with one of the three allowed answers, and every result is right.
        var all = outcomes.ToList();
        Assert.NotEmpty(all);
        Assert.Empty(all.Where(o => o.Failure is not null).Select(o => o.Failure).Take(5));
        Assert.True(all.All(o => o.Status is 200 or 429 or 503),
            $"answers other than 200, 429 and 503: {string.Join(", ", all.Where(o => o.Status is not (200 or 429 or 503)).Take(5).Select(o => $"{o.Kind} {o.Status} {o.Detail}"))}\nserver log:\n{serverErrors}");
        var ok = all.Where(o => o.Status == 200).ToList();
        Assert.True(ok.Count > 0 && all.Any(o => o.Status == 503) && all.Any(o => o.Status == 429),
            $"saturation should produce results, 503s and 429s: {Summary(all)}");
        Assert.All(ok, o => Assert.True(o.Correct, $"wrong result for {o.Kind}: {o.Detail}"));

        // The server's own accounting agrees with what the clients saw.
        Assert.Equal(ok.Count, (long)metrics.Where(m => m.Key.StartsWith("warden_executions_total{", StringComparison.Ordinal)).Sum(m => m.Value));
        Assert.Equal(all.Count(o => o.Status == 503), (long)metrics.GetValueOrDefault("warden_rejections_total{reason=\"capacity\"}"));
        Assert.Equal(all.Count(o => o.Status == 429),
            (long)(metrics.GetValueOrDefault("warden_rejections_total{reason=\"rate_limit\"}") + metrics.GetValueOrDefault("warden_rejections_total{reason=\"concurrency\"}")));

        // Nothing lost: every result and every 503 is in the history and the audit log, after a graceful stop.
        await using var database = WardenDatabase.Open(null, _state);
        var history = new HistoryStore(database);
        long recorded = ok.Count + all.Count(o => o.Status == 503);
        Assert.Equal(recorded, await history.CountAsync(TestContext.Current.CancellationToken));
        Assert.Equal(recorded, File.ReadLines(Path.Combine(_state, "audit.log")).Count());
        foreach (var o in ok.Where((_, i) => i % 50 == 0))
            Assert.NotNull(await history.GetAsync(o.ExecutionId!, TestContext.Current.CancellationToken));

        // The host holds what it held: the pool is back at its floor (the same warm processes as at start), and nothing at
        // all is left after the stop. Warm slots (a workspace mount, a run directory and a cgroup per hierarchy each) are
        // kept for reuse once made, up to the pool's capacity: Size 8 + 2 parallel starts + MaxConcurrent 2 + 4 = 16.
        Assert.Equal(idleAtStart.Processes, idleAfterLoad.Processes);
        int keptSlots = idleAfterLoad.RunDirectories - idleAtStart.RunDirectories;
        Assert.InRange(keptSlots, 0, 16);
        Assert.Equal(idleAtStart.Mounts + keptSlots, idleAfterLoad.Mounts);
        Assert.Equal(idleAtStart.Cgroups + keptSlots * hierarchies, idleAfterLoad.Cgroups);
        Assert.Equal(before, after);
        Assert.Equal(new HostFootprint(0, 0, 0, 0), after);
    }

    private static async Task<Outcome> OneRequestAsync(HttpClient client, string user, int worker, int n, Random random)
    {
        var token = $"t{worker}x{n}";
        var (kind, body, expect) = random.Next(10) switch
        {
            < 4 => ("python", (object)new { language = "python", code = $"print('{token}')" }, token + "\n"),
            < 7 => ("bash", new { language = "bash", code = $"echo {token}" }, token + "\n"),
            7 => ("exit", new { language = "bash", code = $"echo {token}; exit 3" }, token + "\n"),
            8 => ("timeout", new { language = "bash", code = "sleep 5", timeout = 0.5 }, ""),
            _ => ("stream", new { language = "bash", code = $"echo {token}; echo {token} >&2" }, token + "\n"),
        };
        var path = kind == "stream" ? "/api/v1/execute/stream" : "/api/v1/execute";
        using var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-User-Id", user);
        var watch = Stopwatch.StartNew();
        try
        {
            using var response = await client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            var status = (int)response.StatusCode;
            if (status != 200) return new Outcome(kind, status, watch.Elapsed, true, null, null, text.Length > 200 ? text[..200] : text);
            if (kind == "stream")
            {
                var resultLine = text.Split('\n').SkipWhile(l => l != "event: result").Skip(1).First();
                text = resultLine["data: ".Length..];
            }
            var result = JsonDocument.Parse(text).RootElement;
            var resultStatus = result.GetProperty("status").GetString();
            bool correct = kind switch
            {
                "timeout" => resultStatus == "timeout",
                "exit" => resultStatus == "error" && result.GetProperty("exit_code").GetInt32() == 3 && result.GetProperty("stdout").GetString() == expect,
                _ => resultStatus == "success" && result.GetProperty("stdout").GetString() == expect,
            };
            return new Outcome(kind, 200, watch.Elapsed, correct, result.GetProperty("execution_id").GetString(), null, $"{resultStatus}: {text[..Math.Min(300, text.Length)]}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or InvalidOperationException)
        {
            return new Outcome(kind, 0, watch.Elapsed, false, null, $"{kind}: {e.GetType().Name}: {e.Message}", null);
        }
    }

    /// <summary>
    /// The footprint once the warm pool has settled: <paramref name="until"/> holds (or, without one, anything) on three
    /// readings in a row, half a second apart. Gives the last reading after 60 s.
    /// </summary>
    private async Task<HostFootprint> SettledFootprintAsync(string instance, Func<HostFootprint, bool>? until)
    {
        var watch = Stopwatch.StartNew();
        var last = HostFootprint.Take(_state, instance);
        var same = 0;
        while (watch.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (same >= 2 && (until is null || until(last))) return last;
            await Task.Delay(500);
            var next = HostFootprint.Take(_state, instance);
            same = next == last ? same + 1 : 0;
            last = next;
        }
        return last;
    }

    private static async Task WaitIdleAsync(HttpClient client)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(30))
        {
            var health = await JsonAsync(client, "/api/v1/health");
            var info = health.GetProperty("backend_info");
            if (health.GetProperty("active").GetInt32() == 0 && info.GetProperty("idle_slots").GetString() == info.GetProperty("slots").GetString()) return;
            await Task.Delay(100);
        }
        Assert.Fail("the server did not return to idle after the load");
    }

    private static async Task<JsonElement> JsonAsync(HttpClient client, string path) =>
        JsonDocument.Parse(await client.GetStringAsync(path)).RootElement;

    private static Dictionary<string, double> ParseMetrics(string text)
    {
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#') continue;
            var space = line.LastIndexOf(' ');
            values[line[..space]] = double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
        }
        return values;
    }

    private static string Summary(IReadOnlyCollection<Outcome> all) =>
        string.Join(", ", all.GroupBy(o => o.Status).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}"));

    private static void Report(IEnumerable<Outcome> outcomes, TimeSpan elapsed)
    {
        var all = outcomes.ToList();
        var ok = all.Where(o => o.Status == 200).Select(o => o.Latency.TotalMilliseconds).Order().ToList();
        double P(double p) => ok.Count == 0 ? 0 : ok[(int)Math.Min(ok.Count - 1, Math.Floor(p * ok.Count))];
        var line = $"load: {all.Count} requests in {elapsed.TotalSeconds:0} s ({all.Count / elapsed.TotalSeconds:0.0}/s), {Summary(all)}; " +
            $"results {ok.Count / elapsed.TotalSeconds:0.0}/s, latency p50 {P(0.5):0} ms, p95 {P(0.95):0} ms, p99 {P(0.99):0} ms";
        TestContext.Current.SendDiagnosticMessage(line);
        Console.WriteLine(line);
        var log = Environment.GetEnvironmentVariable("WARDEN_LOAD_REPORT");
        if (!string.IsNullOrEmpty(log)) File.AppendAllText(log, line + "\n");
    }

    private static string StateDirectory()
    {
        var dir = Directory.CreateTempSubdirectory("warden-load-");
        dir.UnixFileMode = (UnixFileMode)0b111_101_101;
        return dir.FullName;
    }

    public void Dispose()
    {
        try { Directory.Delete(_state, recursive: true); } catch (IOException) { }
    }

    private sealed record Outcome(string Kind, int Status, TimeSpan Latency, bool Correct, string? ExecutionId, string? Failure, string? Detail);
}
