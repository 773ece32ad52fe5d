namespace Warden.Core.Egress;

/// <summary>Why an address may or may not be dialled.</summary>
public enum AddressVerdict
{
    Allowed,
    /// <summary>Loopback, private, link-local, multicast, reserved, or the host's own: not opened by the operator.</summary>
    PrivateAddress,
    /// <summary>One of Warden's own listening endpoints: never dialled, whatever the operator opened.</summary>
    OwnEndpoint,
}
