using System.Globalization;

namespace Warden.Core.Sandboxing;

/// <summary>The pre-started slots (or keeper containers) of a backend, now.</summary>
/// <param name="Total">Slots in circulation: capacity, without the quarantined ones.</param>
/// <param name="Idle">Ready for the next execution.</param>
/// <param name="Recycling">Being made clean (or, for Docker, being started) in the background.</param>
/// <param name="Quarantined">Out of circulation for good: recycling failed every attempt (see <see cref="Slots.SlotRecycler"/>).</param>
/// <param name="RecycleFailures">Failed recycle attempts since start, retried or not.</param>
public sealed record SlotStatus(int Total, int Idle, int Recycling, int Quarantined, long RecycleFailures);

/// <summary>
/// What a backend reports about itself, typed: /health and /config render it (<see cref="ToFacts"/>, the wire names
/// clients know), metrics and tests read the properties.
/// </summary>
public sealed record BackendStatus
{
    /// <summary>The backend's name ("bwrap", "gvisor", "docker").</summary>
    public required string Backend { get; init; }

    /// <summary>The instance name its host resources carry (cgroups, mounts, containers): reaped when the instance dies.</summary>
    public required string Instance { get; init; }

    /// <summary>"v1", "v2", or "none"/"unknown".</summary>
    public required string CgroupVersion { get; init; }

    /// <summary>Running without cgroup limits (Warden:AllowDegraded): no memory, pids or CPU limits.</summary>
    public bool WithoutCgroups { get; init; }

    /// <summary>The backend's slots; null before it started.</summary>
    public SlotStatus? Slots { get; init; }

    /// <summary>Facts only an operator reads, by their wire names: mode, runtime, platform, image, zygote.</summary>
    public IReadOnlyDictionary<string, string> Details { get; init; } = new Dictionary<string, string>();

    /// <summary>Runs without some protection or capacity: no cgroup limits, or slots quarantined. /health says "degraded".</summary>
    public bool Degraded => WithoutCgroups || Slots is { Quarantined: > 0 };

    /// <summary>The facts /health and /config publish as <c>backend_info</c>, under the names clients already read.</summary>
    public IReadOnlyDictionary<string, string> ToFacts()
    {
        var facts = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["backend"] = Backend,
            ["instance"] = Instance,
            ["cgroup_version"] = CgroupVersion,
            ["degraded"] = Degraded ? "true" : "false",
        };
        if (Slots is { } slots)
        {
            facts["slots"] = Text(slots.Total);
            facts["idle_slots"] = Text(slots.Idle);
            facts["recycling"] = Text(slots.Recycling);
            facts["quarantined_slots"] = Text(slots.Quarantined);
            facts["recycle_failures"] = slots.RecycleFailures.ToString(CultureInfo.InvariantCulture);
        }
        foreach (var (key, value) in Details) facts.TryAdd(key, value);
        return facts;
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
