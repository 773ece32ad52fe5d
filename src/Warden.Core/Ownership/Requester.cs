namespace Warden.Core.Ownership;

/// <summary>
/// The principal a request acts as, and whether it may reach other principals' objects. Every lookup, list and action
/// on a stateful object goes through <see cref="CanReach"/>: an object the requester may not reach is answered exactly
/// like one that does not exist. Only a key with the admin scope acting as itself (naming no user) sees everything; an
/// admin key acting for a user (a front end such as Open WebUI naming its user) is that user. A caller of a server with
/// no keys at all is the whole of its one tenant (<see cref="SeesTenant"/>): everyone there is the operator.
/// </summary>
public sealed record Requester(Principal Principal, bool SeesEverything = false, bool SeesTenant = false)
{
    public bool CanReach(Principal owner)
    {
        ArgumentNullException.ThrowIfNull(owner);
        return SeesEverything || owner == Principal || SeesTenant && owner.Tenant == Principal.Tenant;
    }
}
