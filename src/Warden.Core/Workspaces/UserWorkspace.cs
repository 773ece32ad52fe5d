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
}
