using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Execution;

namespace Warden.Core.Admission;

/// <summary>
/// Admission by memory: the memory limits of everything long-lived (sessions, Jupyter kernels, terminal sandboxes, warm
/// sandboxes) together stay within a budget, so the kernel's limits are promises the host can keep. A limit is a
/// ceiling, not a use, but admitting 64 × 512 MB on a 24 GB host is an overcommit that ends in the host's OOM killer
/// choosing a victim, not in the sandbox's own cgroup. The budget is <see cref="WardenOptions.MemoryBudgetMb"/>, or by
/// default <see cref="DefaultShare"/> of the host's memory (or of Warden's own cgroup limit, when lower).
/// </summary>
public sealed partial class MemoryBudget
{
    /// <summary>The share of the host's (or Warden's cgroup's) memory long-lived sandboxes may promise by default.</summary>
    public const double DefaultShare = 0.75;

    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(30);
    private readonly Lock _lock = new();
    private readonly ILogger<MemoryBudget> _logger;
    private long _reserved;

    public MemoryBudget(IOptions<WardenOptions> options, ILogger<MemoryBudget> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _logger = logger;
        TotalBytes = options.Value.MemoryBudgetMb > 0 ? (long)options.Value.MemoryBudgetMb << 20 : (long)(AvailableToWarden() * DefaultShare);
    }

    /// <summary>The budget, bytes.</summary>
    public long TotalBytes { get; }

    /// <summary>What the live reservations promise together, bytes.</summary>
    public long ReservedBytes
    {
        get { lock (_lock) return _reserved; }
    }

    /// <summary>Reserves <paramref name="bytes"/> for <paramref name="what"/> until the lease is disposed.</summary>
    /// <exception cref="CapacityExceededException">The budget cannot hold it (HTTP 503 with Retry-After).</exception>
    public MemoryLease Reserve(long bytes, string what) =>
        TryReserve(bytes) ?? throw Refuse(bytes, what);

    /// <summary>Reserves <paramref name="bytes"/>, or returns null when the budget cannot hold them (for optional work such as warm sandboxes).</summary>
    public MemoryLease? TryReserve(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        lock (_lock)
        {
            if (_reserved + bytes > TotalBytes) return null;
            _reserved += bytes;
        }
        return new MemoryLease(this, bytes);
    }

    internal void Release(long bytes)
    {
        lock (_lock) _reserved -= bytes;
    }

    private CapacityExceededException Refuse(long bytes, string what)
    {
        long reserved = ReservedBytes;
        Log.Refused(_logger, what, bytes >> 20, reserved >> 20, TotalBytes >> 20);
        return new CapacityExceededException(
            $"Not enough memory to admit {what} ({bytes >> 20} MB): {reserved >> 20} of the server's {TotalBytes >> 20} MB memory budget is " +
            "promised to sessions, kernels, terminals and warm sandboxes (Warden:MemoryBudgetMb). Retry later, or ask for less memory.", RetryAfter);
    }

    /// <summary>The host's memory, or the memory limit of Warden's own cgroup when that is lower.</summary>
    public static long AvailableToWarden()
    {
        long host = HostMemory();
        long cgroup = OwnCgroupLimit();
        return cgroup > 0 && cgroup < host ? cgroup : host;
    }

    private static long HostMemory()
    {
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            if (!line.StartsWith("MemTotal:", StringComparison.Ordinal)) continue;
            var kb = line["MemTotal:".Length..].Trim().Split(' ')[0];
            return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
        }
        throw new InvalidOperationException("/proc/meminfo has no MemTotal line.");
    }

    /// <summary>memory.max (v2) or memory.limit_in_bytes (v1) of the cgroup this process runs in; 0 when unlimited or unknown.</summary>
    private static long OwnCgroupLimit()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/cgroup"))
            {
                var parts = line.Split(':', 3);
                if (parts.Length != 3) continue;
                string? file = parts[0] == "0" && parts[1].Length == 0 ? Path.Join("/sys/fs/cgroup", parts[2], "memory.max")
                    : parts[1].Split(',').Contains("memory") ? Path.Join("/sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes") : null;
                if (file is null || !File.Exists(file)) continue;
                var text = File.ReadAllText(file).Trim();
                if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var limit) && limit < (1L << 60)) return limit;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // No readable cgroup: the host's memory is the bound.
        }
        return 0;
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.MemoryBudgetRefused, LogLevel.Warning,
            "Refused {What} ({RequestedMb} MB): {ReservedMb} of {BudgetMb} MB of the memory budget reserved")]
        public static partial void Refused(ILogger logger, string what, long requestedMb, long reservedMb, long budgetMb);
    }
}

/// <summary>A reservation in the <see cref="MemoryBudget"/>; disposing it (once, from any thread) gives the memory back.</summary>
public sealed class MemoryLease : IDisposable
{
    private MemoryBudget? _budget;

    internal MemoryLease(MemoryBudget budget, long bytes)
    {
        _budget = budget;
        Bytes = bytes;
    }

    public long Bytes { get; }

    public void Dispose() => Interlocked.Exchange(ref _budget, null)?.Release(Bytes);
}
