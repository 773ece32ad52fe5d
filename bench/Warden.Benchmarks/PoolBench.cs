using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Warden.Benchmarks;

/// <summary>
/// The warm pool in one run: the bare interpreter (clean environment) against Warden over HTTP with the warm pool off
/// (cold) and on (warm), latency interleaved per round, then throughput at 1/4/16 callers. Writes its own section of
/// RESULTS.md between markers, leaving the engine benchmark's sections as they are.
/// </summary>
internal static class PoolBench
{
    private const string Begin = "<!-- pool-bench:begin -->", End = "<!-- pool-bench:end -->";

    /// <summary>What one backend measured: latency rows and throughput cells per language, pool stats after each phase.</summary>
    private sealed record BackendRun(string Backend, Dictionary<(string Language, string Variant), Samples> Latency,
        Dictionary<string, Dictionary<(string Variant, int Concurrency), Samples>> Throughput, JsonElement PoolAfterLatency, JsonElement PoolAfterAll,
        JitWarmUp WarmUp);

    /// <summary>The executions run before measuring, until the JIT went quiet, and the methods it compiled meanwhile.</summary>
    private sealed record JitWarmUp(int Executions, long Methods, bool Quiet);

    public static async Task RunAsync(BenchOptions options, Action<string> progress)
    {
        string loadBefore = Machine.LoadAverage();
        var cpuStart = CpuCounters.Read();
        var runs = new List<BackendRun>();
        foreach (var backend in new[] { "bwrap", "gvisor" })
        {
            if (backend == "gvisor" && !File.Exists("/usr/bin/runsc") && !File.Exists("/usr/local/bin/runsc"))
            {
                progress("gvisor: runsc not installed, skipped");
                continue;
            }
            runs.Add(await MeasureAsync(backend, options, progress));
        }
        var cpu = CpuCounters.Between(cpuStart, CpuCounters.Read());

        var md = Report(options, runs, cpu, loadBefore, Machine.LoadAverage());
        var existing = File.Exists(options.Output) ? File.ReadAllText(options.Output) : "";
        int b = existing.IndexOf(Begin, StringComparison.Ordinal), e = existing.IndexOf(End, StringComparison.Ordinal);
        var text = b >= 0 && e > b ? existing[..b] + md.TrimEnd() + existing[(e + End.Length)..] : existing.TrimEnd() + "\n\n" + md;
        File.WriteAllText(options.Output, text.TrimEnd() + "\n");
        Console.Write(md);
    }

    /// <summary>
    /// The full run's report with the pool section of <paramref name="previous"/> (the file it replaces) kept, so each
    /// mode rewrites only its own part of RESULTS.md.
    /// </summary>
    public static string KeepSection(string report, string previous)
    {
        int b = previous.IndexOf(Begin, StringComparison.Ordinal), e = previous.IndexOf(End, StringComparison.Ordinal);
        return b >= 0 && e > b ? report.TrimEnd() + "\n\n" + previous[b..(e + End.Length)] + "\n" : report;
    }

    private static async Task<BackendRun> MeasureAsync(string backend, BenchOptions options, Action<string> progress)
    {
        var common = new Dictionary<string, string?>
        {
            ["Warden:Backend"] = backend,
            ["Warden:MaxConcurrent"] = "16",
            ["Warden:MaxQueue"] = "1000",
        };
        var warmSettings = new Dictionary<string, string?>(common) { ["Warden:Pool:Enabled"] = "true", ["Warden:Pool:Size"] = "16" };
        var coldSettings = new Dictionary<string, string?>(common) { ["Warden:Pool:Enabled"] = "false" };
        progress($"{backend}: starting Warden HTTP: pool off (cold), pool on (warm)");
        await using var cold = await HttpRunner.StartAsync(coldSettings);
        await using var warm = await HttpRunner.StartAsync(warmSettings);
        using var stats = new HttpClient { BaseAddress = warm.BaseAddress };
        await Task.Delay(TimeSpan.FromSeconds(backend == "gvisor" ? 10 : 3));
        var warmUp = await WarmUpJitAsync(cold, warm, options.Quick ? 40 : backend == "gvisor" ? 400 : 3000, progress);

        var latency = new Dictionary<(string Language, string Variant), Samples>();
        var rounds = new RoundRobin(options.Seed);
        foreach (var workload in Workload.All)
        {
            latency[(workload.Language, "bare")] = rounds.Add(() => BareAsync(workload));
            latency[(workload.Language, "cold")] = rounds.Add(() => cold.ExecuteAsync(workload));
            latency[(workload.Language, "warm")] = rounds.Add(() => warm.ExecuteAsync(workload));
        }
        progress($"{backend} latency: {options.WarmupRounds} warm-up + {options.Rounds} interleaved rounds");
        await rounds.RunAsync(options.WarmupRounds, options.Rounds);
        var afterLatency = await PoolStatsAsync(stats);

        progress($"{backend} throughput");
        // A cold gVisor run costs ~10x a bwrap one: fewer executions per cell keep the run in minutes.
        Func<int, int> executions = backend == "gvisor" ? n => Math.Max(options.Quick ? 4 : 16, 2 * n) : options.ThroughputExecutions;
        var throughput = new Dictionary<string, Dictionary<(string Variant, int Concurrency), Samples>>();
        foreach (var workload in Workload.All)
        {
            var variants = new List<(string, Func<Task<double>>)>
            {
                ("bare", () => BareAsync(workload)),
                ("cold", () => cold.ExecuteAsync(workload)),
                ("warm", () => warm.ExecuteAsync(workload)),
            };
            throughput[workload.Language] = await Throughput.RunAsync(variants, options.ThroughputRepetitions, executions, options.Seed, progress);
        }
        return new BackendRun(backend, latency, throughput, afterLatency, await PoolStatsAsync(stats), warmUp);
    }

    /// <summary>
    /// A service runs for days, but a fresh .NET process keeps compiling for its first ~1000 requests (tiered compilation
    /// recompiles hot methods, ~15 ms of CPU per request at first against ~3 ms later): that start-up cost is not what a
    /// steady server pays per execution, so batches of 40 executions (both servers, every language, 4 at a time) run
    /// until one compiles fewer than 10 methods, or <paramref name="limit"/> executions.
    /// </summary>
    private static async Task<JitWarmUp> WarmUpJitAsync(HttpRunner cold, HttpRunner warm, int limit, Action<string> progress)
    {
        long first = System.Runtime.JitInfo.GetCompiledMethodCount();
        int done = 0;
        bool quiet = false;
        while (done < limit && !quiet)
        {
            long before = System.Runtime.JitInfo.GetCompiledMethodCount();
            for (int i = 0; i < 40; i += 4)
            {
                await Task.WhenAll(Enumerable.Range(i, 4).Select(k =>
                    (k % 4 == 0 ? cold : warm).ExecuteAsync(Workload.All[k / 4 % Workload.All.Count])));
            }
            done += 40;
            quiet = System.Runtime.JitInfo.GetCompiledMethodCount() - before < 10;
        }
        long methods = System.Runtime.JitInfo.GetCompiledMethodCount() - first;
        progress($"JIT warm-up: {done} executions, {methods} methods compiled, {(quiet ? "quiet" : "still compiling")}");
        return new JitWarmUp(done, methods, quiet);
    }

    private static async Task<double> BareAsync(Workload workload)
    {
        var run = await Baselines.RunProcessAsync(workload.BareArgv, extraFd: null).ConfigureAwait(false);
        workload.Check("bare", run.Stdout, run.Stderr);
        return run.Milliseconds;
    }

    private static async Task<JsonElement> PoolStatsAsync(HttpClient client)
    {
        using var json = JsonDocument.Parse(await client.GetStringAsync("/api/v1/stats"));
        return json.RootElement.GetProperty("pool").Clone();
    }

    private static string Report(BenchOptions options, IReadOnlyList<BackendRun> runs, CpuShare cpu, string loadBefore, string loadAfter)
    {
        var c = CultureInfo.InvariantCulture;
        string F(FormattableString f) => f.ToString(c);
        var s = new StringBuilder();
        s.AppendLine(Begin);
        s.AppendLine("## Warm pool: bare interpreter vs Warden HTTP cold vs warm");
        s.AppendLine();
        s.AppendLine(F($"`bench/run.sh --pool` ({options.Rounds} interleaved rounds per latency row, {options.ThroughputRepetitions} repetitions per throughput cell), ") +
            F($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, backends {string.Join(" and ", runs.Select(r => r.Backend))}. Load average {loadBefore} → {loadAfter} on {Environment.ProcessorCount} CPUs; ") +
            F($"other tenants used {cpu.OthersPercent:0} % of all CPU time during the run. Bare = `/usr/bin/{{python3 -c,node -e,bash -c}}` with an empty environment, ") +
            "spawned the same way Warden spawns its helper. Cold = Warden with `Warden:Pool:Enabled=false`; warm = pool on (size 16). Every result is checked (`1\\n`).");
        s.AppendLine();
        s.AppendLine("Before measuring, each backend's servers ran batches of 40 executions until one made the JIT compile fewer than 10 methods " +
            "(a fresh .NET process recompiles hot code for its first ~1000 requests: ~15 ms of CPU per request at first, ~3 ms once warm; " +
            "a server that runs for days pays the second): " +
            string.Join("; ", runs.Select(r => F($"{r.Backend} {r.WarmUp.Executions} executions, {r.WarmUp.Methods} methods compiled{(r.WarmUp.Quiet ? "" : ", still compiling at the limit")}"))) + ".");
        foreach (var run in runs)
        {
            s.AppendLine();
            s.AppendLine(c, $"### {run.Backend}: latency (ms, one request at a time, interleaved)");
            s.AppendLine();
            s.AppendLine("| language | bare p50 | cold p50 | warm p50 | warm p10 | warm p95 | warm − bare (paired median) | warm − cold |");
            s.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var language in run.Latency.Keys.Select(k => k.Language).Distinct())
            {
                var bare = run.Latency[(language, "bare")];
                var coldS = run.Latency[(language, "cold")];
                var warmS = run.Latency[(language, "warm")];
                s.AppendLine(F($"| {language} | {bare.Median:0.0} | {coldS.Median:0.0} | {warmS.Median:0.0} | {warmS.P10:0.0} | {warmS.P95:0.0} | ") +
                    F($"{warmS.PairedMedianDelta(bare):+0.0;-0.0} | {warmS.PairedMedianDelta(coldS):+0.0;-0.0} |"));
            }
            s.AppendLine();
            s.AppendLine(c, $"### {run.Backend}: throughput (executions/s, median of repetitions)");
            s.AppendLine();
            s.AppendLine("| language | callers | bare | cold | warm | warm / bare |");
            s.AppendLine("|---|---:|---:|---:|---:|---:|");
            foreach (var (language, cells) in run.Throughput)
            {
                foreach (int n in Throughput.Concurrencies)
                {
                    double bare = cells[("bare", n)].Median, coldT = cells[("cold", n)].Median, warmT = cells[("warm", n)].Median;
                    s.AppendLine(c, $"| {language} | {n} | {bare:0.0} | {coldT:0.0} | {warmT:0.0} | {warmT / bare:P0} |");
                }
            }
            s.AppendLine();
            s.AppendLine(c, $"{run.Backend} pool after the latency rounds: `{run.PoolAfterLatency.GetRawText()}`");
            s.AppendLine();
            s.AppendLine(c, $"{run.Backend} pool after the throughput runs: `{run.PoolAfterAll.GetRawText()}`");
        }
        s.AppendLine();
        s.AppendLine("### Targets");
        s.AppendLine();
        var bwrap = runs.First(r => r.Backend == "bwrap");
        var pythonWarm = bwrap.Latency[("python", "warm")].Median;
        var sat = bwrap.Throughput["python"];
        double satRatio = sat[("warm", 16)].Median / sat[("bare", 16)].Median;
        s.AppendLine(F($"- {(pythonWarm <= 5 ? "✔" : "✘")} python `print(1)` via HTTP p50 ≤ 5 ms with the pool (bwrap): {pythonWarm:0.0} ms ") +
            F($"(bare interpreter in the same run: {bwrap.Latency[("python", "bare")].Median:0.0} ms)."));
        if (runs.FirstOrDefault(r => r.Backend == "gvisor") is { } gvisor)
        {
            var g = gvisor.Latency[("python", "warm")].Median;
            s.AppendLine(F($"- {(g <= 15 ? "✔" : "✘")} gVisor warm p50 ≤ 15 ms: python {g:0.0} ms (gVisor cold in the same run: {gvisor.Latency[("python", "cold")].Median:0.0} ms)."));
        }
        else
        {
            s.AppendLine("- ✘ gVisor warm p50 ≤ 15 ms: not measured (runsc not installed).");
        }
        s.AppendLine(c, $"- {(satRatio >= 0.9 ? "✔" : "✘")} python throughput at saturation (16 callers) ≥ 90 % of bare spawning (bwrap): " +
            $"{satRatio:P0} ({sat[("warm", 16)].Median:0.0} against {sat[("bare", 16)].Median:0.0} executions/s); each warm sandbox starts its own bwrap and interpreter (see bench/README.md).");
        s.AppendLine(End);
        return s.ToString();
    }
}
