namespace Warden.Benchmarks;

/// <summary>
/// Runs every registered step once per round, in a fresh random order each round. A noisy neighbour or a slow
/// stretch of the VM then lands on all variants alike instead of on whichever ran during it, and no variant always
/// runs right after the same other one (which would let caches or a lingering cgroup attach favour it).
/// </summary>
internal sealed class RoundRobin(int seed)
{
    private readonly List<Func<bool, Task>> _steps = [];

    /// <summary>Registers a step that yields one timing; warm-up rounds run it without recording.</summary>
    public Samples Add(Func<Task<double>> measure)
    {
        var samples = new Samples();
        _steps.Add(async record =>
        {
            double value = await measure().ConfigureAwait(false);
            if (record) samples.Add(value);
        });
        return samples;
    }

    /// <summary>Registers a step that yields several timings at once (the parts of one execution).</summary>
    public Samples[] AddParts(int parts, Func<Task<double[]>> measure)
    {
        var samples = Enumerable.Range(0, parts).Select(_ => new Samples()).ToArray();
        _steps.Add(async record =>
        {
            var values = await measure().ConfigureAwait(false);
            if (!record) return;
            for (int i = 0; i < parts; i++) samples[i].Add(values[i]);
        });
        return samples;
    }

    public async Task RunAsync(int warmupRounds, int rounds, Action<int>? progress = null)
    {
        var random = new Random(seed);
        for (int round = -warmupRounds; round < rounds; round++)
        {
            var order = _steps.ToArray();
            random.Shuffle(order);
            foreach (var step in order) await step(round >= 0).ConfigureAwait(false);
            progress?.Invoke(round);
        }
    }
}
