namespace Warden.Core.Workspaces;

/// <summary>
/// One Open WebUI user's home on the host: <c>{StateDirectory}/users/{Key}/home</c>, where <see cref="UserHomes"/> mounts
/// the user's own size-capped filesystem (root mode 0700, owned by <see cref="Uid"/>, a host uid that belongs to this user
/// alone and never changes).
/// </summary>
/// <param name="UserId">The user's id as the identity layer established it.</param>
/// <param name="Key">A filesystem-safe name derived from the id (a hash: ids are caller-controlled text).</param>
public sealed record UserWorkspace(string UserId, string Key, int Uid, string HostHome);
