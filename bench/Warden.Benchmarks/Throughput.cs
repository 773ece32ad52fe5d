using System.Diagnostics;

namespace Warden.Benchmarks;

/// <summary>Executions per second with N callers each starting the next execution as soon as its previous one returns.</summary>
internal static class Throughput
{
    public static readonly int[] Concurrencies = [1, 4, 16];

    public static async Task<double> MeasureAsync(Func<Task<double>> execute, int concurrency, int executions)
    {
        int remaining = executions;
        var clock = Stopwatch.StartNew();
        // Task.Run: every caller must be in flight at once, not the first one running alone until its first await.
        var callers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Decrement(ref remaining) >= 0) await execute().ConfigureAwait(false);
        }));
        await Task.WhenAll(callers).ConfigureAwait(false);
        return executions / clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// For each concurrency, <paramref name="repetitions"/> rounds; each round measures every variant once, in a
    /// random order, for the same number of executions. Returns executions/s per variant and concurrency.
    /// </summary>
    public static async Task<Dictionary<(string Variant, int Concurrency), Samples>> RunAsync(
        IReadOnlyList<(string Name, Func<Task<double>> Execute)> variants, int repetitions, Func<int, int> executionsAt, int seed,
        Action<string>? progress = null)
    {
        var results = new Dictionary<(string, int), Samples>();
        var random = new Random(seed);
        foreach (int concurrency in Concurrencies)
        {
            for (int rep = 0; rep < repetitions; rep++)
            {
                var order = variants.ToArray();
                random.Shuffle(order);
                foreach (var (name, execute) in order)
                {
                    if (!results.TryGetValue((name, concurrency), out var samples)) results[(name, concurrency)] = samples = new Samples();
                    samples.Add(await MeasureAsync(execute, concurrency, executionsAt(concurrency)).ConfigureAwait(false));
                }
                progress?.Invoke($"throughput c={concurrency} repetition {rep + 1}/{repetitions}");
            }
        }
        return results;
    }
}
