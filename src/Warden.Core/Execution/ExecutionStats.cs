using System.Collections.Concurrent;

namespace Warden.Core.Execution;

/// <summary>Counters for /stats: executions by status, recent durations, and what runs or waits now.</summary>
public sealed class ExecutionStats
{
    private const int Window = 2048;
    private readonly ConcurrentDictionary<ExecutionStatus, long> _byStatus = new();
    private readonly ConcurrentDictionary<string, long> _byLanguage = new(StringComparer.Ordinal);
    private readonly long[] _durations = new long[Window];
    private long _recorded;
    private long _rejected;
    private int _active;
    private int _queued;

    public int Active => Volatile.Read(ref _active);
    public int Queued => Volatile.Read(ref _queued);
    public long Total => Interlocked.Read(ref _recorded);
    public long Rejected => Interlocked.Read(ref _rejected);

    public IReadOnlyDictionary<ExecutionStatus, long> ByStatus => _byStatus;
    public IReadOnlyDictionary<string, long> ByLanguage => _byLanguage;

    internal void EnterQueue() => Interlocked.Increment(ref _queued);
    internal void LeaveQueue() => Interlocked.Decrement(ref _queued);
    internal void Start() => Interlocked.Increment(ref _active);
    internal void Stop() => Interlocked.Decrement(ref _active);
    internal void Reject() => Interlocked.Increment(ref _rejected);

    internal void Record(ExecutionResult result, long totalMs)
    {
        _byStatus.AddOrUpdate(result.Status, 1, (_, n) => n + 1);
        _byLanguage.AddOrUpdate(result.Language, 1, (_, n) => n + 1);
        long index = Interlocked.Increment(ref _recorded) - 1;
        _durations[index % Window] = totalMs;
    }

    /// <summary>Duration percentile (0..1) over the last <see cref="Window"/> executions, in ms.</summary>
    public double Percentile(double p)
    {
        long count = Math.Min(Total, Window);
        if (count == 0) return 0;
        var copy = new long[count];
        Array.Copy(_durations, copy, count);
        Array.Sort(copy);
        return copy[(int)Math.Min(count - 1, Math.Floor(p * count))];
    }
}
