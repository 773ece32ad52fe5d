using Warden.Core.Ownership;

namespace Warden.Core.Workspaces;

/// <summary>
/// One user's home on the host: <c>{StateDirectory}/users/{Key}/home</c>, where <see cref="UserHomes"/> mounts
/// the user's own size-capped filesystem (root mode 0700, owned by <see cref="Uid"/>, a host uid that belongs to this user
/// alone and never changes).
/// </summary>
/// <param name="Owner">The principal (tenant and user) the identity layer established.</param>
/// <param name="Key">A filesystem-safe name derived from the principal (a hash: user ids are caller-controlled text).</param>
public sealed record UserWorkspace(Principal Owner, string Key, int Uid, string HostHome)
{
    /// <summary>The size of this home's filesystem when a policy sets it; null: <see cref="Terminals.TerminalOptions.MaxMegabytesPerUser"/>.</summary>
    public int? HomeMegabytes { get; init; }

    /// <summary>The home's own key (its directory and image, its mount's holders and lease): <see cref="Key"/> for a home of
    /// the user's own; the policy's for a home shared by the users of a policy (<c>storage_mode: shared</c>).</summary>
    public string HomeKey { get; init; } = Key;

    /// <summary>A shared home's group: a host id allocated to the policy's home (from the users' uid range, so no user's
    /// uid is ever it). The home's root is that id's, group-owned by it, mode 2770 (setgid: everything made in it stays
    /// the group's), and the user's sandbox runs with it as its gid. Null: the home is the user's alone (0700, own gid).</summary>
    public int? SharedGid { get; init; }

    /// <summary>Owner, group and mode of the home's root directory.</summary>
    internal (int Owner, int Group, uint Mode) HomeRoot => SharedGid is int gid ? (gid, gid, 0b010_111_111_000u) : (Uid, Uid, 0b111_000_000u);
}
