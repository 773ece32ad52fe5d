using System.Collections.Frozen;
using System.Net;
using System.Net.NetworkInformation;

namespace Warden.Core.Egress;

/// <summary>
/// The host's own addresses (every interface). A public name that resolves to one of them would reach whatever listens
/// on 0.0.0.0 here, Warden included, so they are refused like loopback. Refreshed when the kernel reports an address
/// change (DHCP, a new interface), not only at start.
/// </summary>
public sealed class HostAddresses : IDisposable
{
    private readonly bool _watch;
    private FrozenSet<IPAddress> _addresses;

    /// <summary>Reads the interfaces now and follows their changes.</summary>
    public HostAddresses() : this(Read(), watch: true) { }

    /// <summary>A fixed set (tests).</summary>
    internal HostAddresses(IEnumerable<IPAddress> addresses, bool watch)
    {
        _addresses = addresses.Select(Canonical).ToFrozenSet();
        _watch = watch;
        if (watch) NetworkChange.NetworkAddressChanged += OnChanged;
    }

    public bool Contains(IPAddress address) => _addresses.Contains(Canonical(address));

    public IReadOnlyCollection<IPAddress> Current => _addresses;

    private void OnChanged(object? sender, EventArgs e) => _addresses = Read().Select(Canonical).ToFrozenSet();

    private static IPAddress[] Read()
    {
        try
        {
            return NetworkInterface.GetAllNetworkInterfaces()
                .SelectMany(i => i.GetIPProperties().UnicastAddresses)
                .Select(a => a.Address)
                .ToArray();
        }
        catch (NetworkInformationException)
        {
            // Without the list only loopback is known to be ours; the range table still refuses private addresses.
            return [IPAddress.Loopback, IPAddress.IPv6Loopback];
        }
    }

    // Scope ids (fe80::1%eth0) and mapped forms must not let one address look like two.
    private static IPAddress Canonical(IPAddress address)
    {
        var a = AddressPolicy.Unwrap(address);
        return a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && a.ScopeId != 0 ? new IPAddress(a.GetAddressBytes()) : a;
    }

    public void Dispose()
    {
        if (_watch) NetworkChange.NetworkAddressChanged -= OnChanged;
    }
}
