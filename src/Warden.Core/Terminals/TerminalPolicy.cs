using Warden.Core.Limits;

namespace Warden.Core.Terminals;

/// <summary>
/// What an orchestrator policy asks of its terminals (Open WebUI's Terminals <c>PolicyData</c>, parsed): every value is
/// optional, absent means the server's own default. <see cref="LimitPolicy.ResolveTerminalPolicy"/> turns it into the
/// <see cref="TerminalPolicy"/> a sandbox gets, lowered to the server's ceilings.
/// </summary>
public sealed record TerminalPolicyRequest
{
    /// <summary>CPU cores (<c>cpu_limit</c>: "2", "500m").</summary>
    public double? Cpus { get; init; }

    /// <summary>Memory of the sandbox (<c>memory_limit</c>: "4Gi").</summary>
    public int? MemoryMb { get; init; }

    /// <summary>Size of the home's filesystem (<c>storage</c>: "5Gi").</summary>
    public int? StorageMb { get; init; }

    /// <summary>Idle time after which the sandbox is stopped (<c>idle_timeout_minutes</c>); absent or 0: the server's.</summary>
    public double? IdleTimeoutSeconds { get; init; }

    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>One home for every user of the policy (<c>storage_mode</c> <c>shared</c> or <c>shared-rwo</c>), not one each.</summary>
    public bool SharedHome { get; init; }

    /// <summary>Hosts the policy's sandboxes may reach through Warden's egress proxy (<c>network.allow</c>); null or empty: none.</summary>
    public IReadOnlyList<string>? NetworkAllow { get; init; }
}

/// <summary>
/// The effective policy of one (policy, user) terminal: its sandbox's limits, home size, environment and idle timeout.
/// Terminals of different policies are different sandboxes, homes and uids, even for the same user.
/// </summary>
/// <param name="Id">The policy id (validated by the API: a safe name, no path characters).</param>
public sealed record TerminalPolicy(string Id, ResourceLimits Limits, int HomeMegabytes, TimeSpan IdleTimeout, IReadOnlyDictionary<string, string> Environment)
{
    /// <summary>Every user of the policy shares one home (see <see cref="Workspaces.UserWorkspace.SharedGid"/>); each still has
    /// a sandbox and uid of their own.</summary>
    public bool SharedHome { get; init; }

    /// <summary>The policy's egress allowlist (patterns within the server's WARDEN_EGRESS_ALLOW); null or empty: no network.</summary>
    public IReadOnlyList<string>? NetworkAllow { get; init; }
}

/// <summary>One terminal as an administrator sees it: whose, under which policy (null: the plain surface), whether its
/// sandbox runs now, when it was last used and after how long idle it is stopped.</summary>
public sealed record TerminalSummary(Ownership.Principal Owner, string? PolicyId, bool Running, DateTimeOffset LastActivity, TimeSpan IdleTimeout);
