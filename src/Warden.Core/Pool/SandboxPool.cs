using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Admission;
using Warden.Core.Languages;
using Warden.Core.Limits;
using Warden.Core.Sandboxing;

namespace Warden.Core.Pool;

/// <summary>
/// The warm pool: single-use sandboxes of the selected backend, started ahead of their request with the
/// language's stub loaded, refilled in the background toward <see cref="PoolPolicy"/>'s targets. An execution takes
/// one if a ready one fits its language and limits profile (<see cref="WarmProfile"/>),
/// otherwise it runs cold. A warm sandbox belongs to no user until it is taken, runs one program and is destroyed.
/// While starting or ready, each holds its memory limit in the <see cref="MemoryBudget"/>; the pool starts no sandbox
/// the budget cannot hold, so warm sandboxes never crowd out sessions, kernels and terminals beyond it.
/// </summary>
public sealed partial class SandboxPool : IAsyncDisposable
{
    private readonly BackendSelector _backends;
    private readonly BackendStartup _startup;
    private readonly PoolOptions _options;
    private readonly WardenOptions _warden;
    private readonly ILogger<SandboxPool> _logger;
    private readonly ResourceLimits _idleLimits;
    private readonly Dictionary<string, WarmRecipe> _recipes;
    private readonly PoolPolicy _policy;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Queue<IWarmSandbox>> _ready = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _starting = new(StringComparer.Ordinal);
    private readonly HashSet<Task> _inflight = [];
    private readonly HashSet<Task> _retiring = [];
    private readonly Dictionary<IWarmSandbox, MemoryLease> _leases = new(ReferenceEqualityComparer.Instance);
    private readonly MemoryBudget _memory;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private IWarmSandboxSource? _source;
    private Task? _loop;
    private long _backoffUntil;
    private bool _disposed;

    public SandboxPool(BackendSelector backends, BackendStartup startup, LanguageCatalog languages, LimitPolicy limits, IOptions<PoolOptions> options,
        IOptions<WardenOptions> warden, TimeProvider time, PoolMetrics metrics, ILogger<SandboxPool> logger, MemoryBudget memory)
    {
        ArgumentNullException.ThrowIfNull(memory);
        _memory = memory;
        ArgumentNullException.ThrowIfNull(languages);
        ArgumentNullException.ThrowIfNull(limits);
        _backends = backends;
        _startup = startup;
        _options = options.Value;
        _warden = warden.Value;
        _time = time;
        _logger = logger;
        Metrics = metrics;
        // Warm sandboxes are started for the default limits profile (see WarmProfile); other profiles run cold.
        _idleLimits = limits.Resolve(null);
        _recipes = languages.Installed.Select(l => WarmRecipes.For(l, _idleLimits, "/sandbox")).OfType<WarmRecipe>()
            .ToDictionary(r => r.Language, StringComparer.Ordinal);
        _policy = new PoolPolicy(_options, _recipes.Keys.ToHashSet(StringComparer.Ordinal), time);
        Metrics.ObserveReady(ReadyCounts);
    }

    public PoolMetrics Metrics { get; }

    /// <summary>True once started on a backend that can start sandboxes ahead.</summary>
    public bool Running => _loop is not null;

    /// <summary>Starts refilling, if enabled and the selected backend supports warm sandboxes. Idempotent.</summary>
    public void Start()
    {
        lock (_gate)
        {
            if (_loop is not null || _disposed || !_options.Enabled || _options.Size == 0) return;
            if (_backends.Selected is not IWarmSandboxSource source) return;
            _source = source;
            _loop = Task.Run(() => RunAsync(_stop.Token));
        }
    }

    /// <summary>
    /// A warm sandbox for this run, armed with its limits: a ready one, or, when none is ready (the pool is empty under
    /// load, or its refills are still loading), one started for this run at once. That one loads its interpreter on
    /// the request's clock as a cold run does, but it is the same sandbox and stub, so the run keeps the stub's cheaper
    /// ending (no interpreter finalization, ~4 ms of CPU for python): under saturation, where refills at idle weight
    /// get no CPU, every run still goes this way instead of cold. Null when the run goes cold (pool off, a language
    /// without stub, a limits profile no warm sandbox has, or the start failed).
    /// </summary>
    internal async ValueTask<IWarmSandbox?> TakeAsync(InstalledLanguage language, ResourceLimits limits, CancellationToken cancellationToken)
    {
        var warm = TryTake(language, limits, out bool empty);
        if (warm is not null || !empty || _source is not { } source) return warm;
        IWarmSandbox started;
        try
        {
            // The request waits for this load: it runs at normal CPU weight, as a cold run would.
            started = await source.StartWarmAsync(_recipes[language.Name] with { LoadsAtIdleWeight = false }, Capacity, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.OnDemandFailed(_logger, language.Name, e);
            return null;
        }
        if (!started.TryArm(limits))
        {
            Retire(started);
            return null;
        }
        Metrics.StartedOnDemand(language.Name);
        return started;
    }

    /// <summary>Warm slots needed at most: the ready and starting ones, those running (bounded by MaxConcurrent), and a few being recycled.</summary>
    private int Capacity => _options.Size + _options.MaxParallelStarts + _warden.MaxConcurrent + 4;

    /// <summary>
    /// A ready warm sandbox, armed with the run's limits; null when there is none. <paramref name="empty"/> tells a
    /// miss for want of a ready sandbox from one for a reason no warm sandbox could serve. Records the demand the
    /// pool adapts to.
    /// </summary>
    private IWarmSandbox? TryTake(InstalledLanguage language, ResourceLimits limits, out bool empty)
    {
        empty = false;
        if (_loop is null || !_recipes.ContainsKey(language.Name)) return null;
        _policy.RecordDemand(language.Name);
        if (!WarmProfile.Fits(_idleLimits, limits))
        {
            Metrics.Miss(language.Name, "profile");
            return null;
        }

        IWarmSandbox? warm = null;
        var dead = new List<IWarmSandbox>();
        lock (_gate)
        {
            if (_ready.TryGetValue(language.Name, out var queue))
            {
                while (warm is null && queue.TryDequeue(out var candidate))
                {
                    // Taken or dead, it leaves the pool's share of the budget: a run is bounded by MaxConcurrent instead.
                    ReleaseLease(candidate);
                    if (candidate.IsAlive) warm = candidate; else dead.Add(candidate);
                }
            }
        }
        _wake.Release();
        foreach (var d in dead) Retire(d);
        if (warm is null)
        {
            Metrics.Miss(language.Name, dead.Count > 0 ? "dead" : "empty");
            _policy.RecordEmpty();
            empty = true;
            return null;
        }
        if (!warm.TryArm(limits))
        {
            Metrics.Miss(language.Name, "armed");
            Retire(warm);
            return null;
        }
        Metrics.Hit(language.Name);
        return warm;
    }

    public PoolSnapshot Snapshot()
    {
        long hits = Metrics.Hits, misses = Metrics.Misses;
        Dictionary<string, int> starting;
        lock (_gate) starting = new(_starting);
        return new PoolSnapshot(Running, Running ? _policy.Size : _options.Size, hits, misses, hits + misses == 0 ? 0 : Math.Round((double)hits / (hits + misses), 4),
            new Dictionary<string, long>(Metrics.MissesByReason), ReadyCounts().ToDictionary(r => r.Language, r => r.Ready),
            Running ? new Dictionary<string, int>(_policy.Targets()) : new Dictionary<string, int>(), starting.Values.Sum(),
            Metrics.RefillPercentile(0.5), Metrics.RefillPercentile(0.95), Metrics.Refills, Metrics.RefillFailures, Metrics.OnDemand);
    }

    /// <summary>Waits until every language has its target of ready sandboxes (tests, benchmarks); false on timeout.</summary>
    public async Task<bool> WaitFilledAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = _time.GetTimestamp() + (long)(timeout.TotalSeconds * _time.TimestampFrequency);
        while (_time.GetTimestamp() < deadline)
        {
            if (!Running) return false;
            var targets = _policy.Targets();
            var ready = ReadyCounts().ToDictionary(r => r.Language, r => r.Ready, StringComparer.Ordinal);
            if (targets.All(t => ready.GetValueOrDefault(t.Key) >= t.Value)) return true;
            await Task.Delay(TimeSpan.FromMilliseconds(20), _time, cancellationToken).ConfigureAwait(false);
        }
        return false;
    }

    private IEnumerable<(string Language, int Ready)> ReadyCounts()
    {
        lock (_gate) return _ready.Select(kv => (kv.Key, kv.Value.Count)).ToList();
    }

    private async Task RunAsync(CancellationToken stop)
    {
        try
        {
            await _startup.StartAsync(stop).ConfigureAwait(false);
            Log.Started(_logger, _backends.Selected.Name, _options.Size, string.Join(", ", _recipes.Keys));
            while (!stop.IsCancellationRequested)
            {
                Rebalance();
                await _wake.WaitAsync(TimeSpan.FromSeconds(1), stop).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Starts sandboxes for languages under target (bounded: each costs an interpreter start-up of CPU) and, when the
    /// pool is full and another language is short, or the adaptive size shrank, retires ready ones beyond their
    /// language's target. Refills load at idle CPU weight: that weight is relative to the instance's other slots only,
    /// so it yields to Warden's own runs, while unrelated host processes compete with Warden's cgroup as a whole.
    /// </summary>
    private void Rebalance()
    {
        var targets = _policy.Targets();
        int size = targets.Values.Sum();
        var retire = new List<IWarmSandbox>();
        lock (_gate)
        {
            if (_disposed) return;
            int Have(string l) => (_ready.TryGetValue(l, out var q) ? q.Count : 0) + _starting.GetValueOrDefault(l);
            int total = _ready.Keys.Union(_starting.Keys).Sum(Have);
            bool shortage = targets.Any(t => Have(t.Key) < t.Value);
            if ((shortage && total >= size) || total > size)
            {
                foreach (var (language, queue) in _ready)
                {
                    for (int excess = Have(language) - targets.GetValueOrDefault(language); excess > 0 && queue.Count > 0; excess--, total--)
                    {
                        var sandbox = queue.Dequeue();
                        ReleaseLease(sandbox);
                        retire.Add(sandbox);
                    }
                }
            }
            if (_time.GetTimestamp() >= Interlocked.Read(ref _backoffUntil))
            {
                int startingNow = _starting.Values.Sum();
                foreach (var (language, target) in targets.OrderByDescending(t => t.Value - Have(t.Key)).ThenBy(t => t.Key, StringComparer.Ordinal))
                {
                    while (Have(language) < target && total < size && startingNow < _options.MaxParallelStarts)
                    {
                        if (_memory.TryReserve(_idleLimits.MemoryBytes) is not { } lease) break;
                        _starting[language] = _starting.GetValueOrDefault(language) + 1;
                        total++;
                        startingNow++;
                        var task = StartOneAsync(_recipes[language], lease);
                        _inflight.Add(task);
                        _ = task.ContinueWith(t => { lock (_gate) _inflight.Remove(t); }, TaskScheduler.Default);
                    }
                }
            }
        }
        foreach (var sandbox in retire) Retire(sandbox);
    }

    private async Task StartOneAsync(WarmRecipe recipe, MemoryLease lease)
    {
        long started = _time.GetTimestamp();
        IWarmSandbox? warm = null;
        try
        {
            warm = await _source!.StartWarmAsync(recipe, Capacity, _stop.Token).ConfigureAwait(false);
            Metrics.Refilled(recipe.Language, _time.GetElapsedTime(started));
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            Metrics.RefillFailed();
            Log.RefillFailed(_logger, recipe.Language, e);
            // A backend that cannot start sandboxes now should not be asked again at once, in a loop.
            Interlocked.Exchange(ref _backoffUntil, _time.GetTimestamp() + _time.TimestampFrequency);
        }
        bool keep;
        lock (_gate)
        {
            _starting[recipe.Language]--;
            keep = warm is not null && !_disposed;
            if (keep)
            {
                if (!_ready.TryGetValue(recipe.Language, out var queue)) _ready[recipe.Language] = queue = new Queue<IWarmSandbox>();
                queue.Enqueue(warm!);
                _leases[warm!] = lease;
            }
        }
        if (!keep)
        {
            lease.Dispose();
            if (warm is not null) Retire(warm);
        }
        _wake.Release();
    }

    /// <summary>Gives a sandbox's share of the memory budget back (call under <see cref="_gate"/>).</summary>
    private void ReleaseLease(IWarmSandbox sandbox)
    {
        if (_leases.Remove(sandbox, out var lease)) lease.Dispose();
    }

    /// <summary>
    /// Destroys a warm sandbox that will not run anything, in the background — but tracked: disposal waits for it, or the
    /// backend would destroy the slot (cgroup, workspace mount) while the sandbox's processes were still being killed
    /// ("Device or resource busy", a leaked cgroup and mount at every shutdown that raced a retirement).
    /// </summary>
    private void Retire(IWarmSandbox sandbox)
    {
        var task = sandbox.DisposeAsync().AsTask();
        lock (_gate) _retiring.Add(task);
        _ = task.ContinueWith(t => { lock (_gate) _retiring.Remove(t); }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
    }

    public async ValueTask DisposeAsync()
    {
        Task? loop;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            loop = _loop;
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        if (loop is not null) await loop.ConfigureAwait(false);
        Task[] inflight;
        lock (_gate) inflight = [.. _inflight];
        await Task.WhenAll(inflight).ConfigureAwait(false);
        List<IWarmSandbox> ready;
        lock (_gate)
        {
            ready = _ready.Values.SelectMany(q => q).ToList();
            _ready.Clear();
            foreach (var sandbox in ready) ReleaseLease(sandbox);
        }
        foreach (var sandbox in ready) await sandbox.DisposeAsync().ConfigureAwait(false);
        Task[] retiring;
        lock (_gate) retiring = [.. _retiring];
        // A retirement's failure was never anyone's to handle (it is logged where it happens); only its end matters here.
        foreach (var task in retiring)
        {
            try { await task.ConfigureAwait(false); }
            catch (Exception e) when (e is not OutOfMemoryException) { }
        }
        _stop.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.PoolStarted, LogLevel.Information, "Warm pool on {Backend}: {Size} sandboxes for {Languages}")]
        public static partial void Started(ILogger logger, string backend, int size, string languages);

        [LoggerMessage(Diagnostics.EventIds.PoolRefillFailed, LogLevel.Warning, "Starting a warm {Language} sandbox failed; retrying in a second")]
        public static partial void RefillFailed(ILogger logger, string language, Exception exception);

        [LoggerMessage(Diagnostics.EventIds.PoolOnDemandFailed, LogLevel.Warning, "Starting a {Language} stub sandbox for a run failed; it runs cold")]
        public static partial void OnDemandFailed(ILogger logger, string language, Exception exception);
    }
}
