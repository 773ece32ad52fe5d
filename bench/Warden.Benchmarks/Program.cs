using System.Globalization;
using Warden.Benchmarks;
using Warden.Core.Cgroups;
using Warden.Core.Sandboxing;
using Warden.Core.Sandboxing.Slots;

// The engine benchmark: bare interpreter vs bare bwrap vs Warden Core vs Warden HTTP, in one run, interleaved.
// Usage: Warden.Benchmarks [--quick] [--pool] [--repetitions N] [--rounds N] [--out FILE] [--warden PATH-TO-warden] [--seed N]
if (args.Contains("--egress")) return await EgressBench.RunAsync(args); // the egress proxy alone: no sandboxes, no Warden
var options = BenchOptions.Parse(args);
var repository = BenchOptions.FindRepository();
var results = new Results
{
    Options = options,
    Machine = Machine.Describe(repository),
    StartedUtc = DateTime.UtcNow,
    LoadAtStart = Machine.LoadAverage(),
};
void Progress(string message) => Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {message}");
if (options.Pool)
{
    // The warm pool only: bare vs Warden HTTP cold vs warm; its own section of RESULTS.md, the others are left as they are.
    await PoolBench.RunAsync(options, Progress);
    return 0;
}

var engineSettings = new Dictionary<string, string?>
{
    // Enough slots that 16 concurrent callers each get a sandbox instead of waiting in Warden's queue, as they would
    // each get a process when spawning bare.
    ["Warden:MaxConcurrent"] = Throughput.Concurrencies.Max().ToString(CultureInfo.InvariantCulture),
    ["Warden:MaxQueue"] = "1000",
};
results.Slots = Throughput.Concurrencies.Max();

Progress("starting Warden Core and Warden HTTP (slots, cgroups, parked helpers)");
await using (var core = await CoreRunner.StartAsync(engineSettings))
await using (var http = await HttpRunner.StartAsync(engineSettings))
{
    // The benchmark's own cgroups live where the engine's do (warden/<instance>/...), named like an engine instance,
    // so a crashed run's leftovers are reaped by the next Warden start like any other dead instance's.
    var cgroupTree = CgroupHost.Open(CgroupHost.Probe(), WardenInstance.NewName());
    var joinCgroup = cgroupTree.Create("bwrap-join");
    joinCgroup.Apply(core.Limits.Resolve(null));
    var breakdownCgroup = cgroupTree.Create("breakdown");
    using var baselines = new Baselines(core.Backend, core.Limits, core.Languages, joinCgroup);
    results.SeccompMatchesEngine = baselines.SeccompMatchesEngine;
    var breakdownWorkspace = Path.Combine(Path.GetTempPath(), $"warden-bench-slot-{Environment.ProcessId}");
    Directory.CreateDirectory(breakdownWorkspace);
    try
    {
        await using var breakdown = new Breakdown(core.Backend, core.Limits, breakdownCgroup, breakdownWorkspace);

        var rounds = new RoundRobin(options.Seed);
        foreach (var workload in Workload.All)
        {
            var rows = results.Latency[workload.Language] = [];
            rows["bare"] = rounds.Add(() => Baselines.BareAsync(workload));
            rows["bwrap"] = rounds.Add(() => baselines.BwrapAsync(workload));
            rows["core"] = rounds.Add(() => core.ExecuteAsync(workload));
            rows["http"] = rounds.Add(() => http.ExecuteAsync(workload));
        }
        var python = results.Latency["python"];
        var file = Path.Combine(breakdownWorkspace, "..", $"warden-bench-main-{Environment.ProcessId}.py");
        File.WriteAllText(file, Workload.Python.Code + "\n");
        var fileForm = Workload.Python with { BareArgv = ["/usr/bin/python3", "-I", "-B", Path.GetFullPath(file)] };
        python["bare-file"] = rounds.Add(() => Baselines.BareAsync(fileForm));
        python["bwrap-no-netns"] = rounds.Add(() => baselines.BwrapAsync(Workload.Python, networkNamespace: false));
        python["bwrap-sh"] = rounds.Add(() => baselines.BwrapShellAsync(Workload.Python, joinCgroup: false));
        python["bwrap-sh-join"] = rounds.Add(() => baselines.BwrapShellAsync(Workload.Python, joinCgroup: true));
        results.CorePhases = rounds.AddParts(5, async () =>
        {
            var p = await core.PhasesAsync(Workload.Python);
            return [p.Acquire, p.WriteFiles, p.Run, p.Release, p.Total];
        });
        results.CgroupFiles = rounds.Add(() => Task.FromResult(breakdown.CgroupFiles()));
        results.ReleaseSteps = rounds.AddParts(3, async () =>
        {
            var s = await breakdown.ReleaseAsync();
            return [s.CgroupSweep, s.WorkspaceRemount, s.HelperSpawn];
        });

        var cpuStart = CpuCounters.Read();
        Progress($"latency: {options.WarmupRounds} warm-up + {options.Rounds} interleaved rounds");
        await rounds.RunAsync(options.WarmupRounds, options.Rounds, round =>
        {
            if (round >= 0 && (round + 1) % 10 == 0) Progress($"latency round {round + 1}/{options.Rounds}");
        });
        File.Delete(file);

        Progress("throughput");
        results.Throughput = await Throughput.RunAsync(
        [
            ("bare", () => Baselines.BareAsync(Workload.Python)),
            ("bwrap", () => baselines.BwrapAsync(Workload.Python)),
            ("core", () => core.ExecuteAsync(Workload.Python)),
            ("http", () => http.ExecuteAsync(Workload.Python)),
        ], options.ThroughputRepetitions, options.ThroughputExecutions, options.Seed, Progress);
        results.Cpu = CpuCounters.Between(cpuStart, CpuCounters.Read());
    }
    finally
    {
        joinCgroup.Delete();
        cgroupTree.Dispose();
        try { Directory.Delete(breakdownWorkspace); } catch (IOException) { }
    }
}

if (options.WardenBinary is { } warden)
{
    // After the in-process engines are gone, so their slots and helpers do not compete with the server starting up.
    Progress($"idle memory of {warden} serve");
    results.Memory = await IdleMemory.MeasureAsync(warden, options.Quick ? 10 : 50);
    // What one runtime setting would change: W^X keeps a second (writable) mapping of all JIT-compiled code.
    results.MemoryWithoutWx = await IdleMemory.MeasureAsync(warden, 0, new Dictionary<string, string> { ["DOTNET_EnableWriteXorExecute"] = "0" });
}

results.FinishedUtc = DateTime.UtcNow;
results.LoadAtEnd = Machine.LoadAverage();
var markdown = Report.Write(results);
File.WriteAllText(options.Output, PoolBench.KeepSection(markdown, File.Exists(options.Output) ? File.ReadAllText(options.Output) : ""));
Progress($"wrote {options.Output}");
Console.Write(markdown);
return 0;

/// <summary>Command-line settings; the defaults are the full run that RESULTS.md is committed from.</summary>
internal sealed record BenchOptions
{
    public bool Quick { get; init; }
    public bool Pool { get; init; }
    public int Rounds { get; init; } = 60;
    public int WarmupRounds { get; init; } = 3;
    public int ThroughputRepetitions { get; init; } = 3;
    public int Seed { get; init; } = 2;
    public string Output { get; init; } = "RESULTS.md";
    public string? WardenBinary { get; init; }

    /// <summary>Enough executions per measurement that the start and the stragglers at the end weigh little.</summary>
    public int ThroughputExecutions(int concurrency) => Quick ? Math.Max(8, 2 * concurrency) : Math.Max(48, 12 * concurrency);

    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            o = args[i] switch
            {
                "--quick" => o with { Quick = true, Rounds = 8, WarmupRounds = 1, ThroughputRepetitions = 1 },
                "--pool" => o with { Pool = true },
                "--repetitions" => o with { ThroughputRepetitions = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--rounds" => o with { Rounds = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--out" => o with { Output = Next() },
                "--warden" => o with { WardenBinary = Next() },
                "--seed" => o with { Seed = int.Parse(Next(), CultureInfo.InvariantCulture) },
                _ => throw new ArgumentException($"unknown argument {args[i]}; see the header of Program.cs"),
            };
        }
        return o;
    }

    /// <summary>The checkout this harness was built from (machine facts name its commit).</summary>
    public static string FindRepository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Warden.slnx"))) return dir.FullName;
        return Environment.CurrentDirectory;
    }
}
