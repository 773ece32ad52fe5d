using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;

namespace Warden.Core.Egress;

/// <summary>
/// Decides whether an address the proxy resolved may be dialled. Refused unless an operator rule opens it: every
/// non-public IPv4 range, every IPv6 address outside 2000::/3 and the tunnelling/documentation prefixes inside it, the
/// host's own addresses. Mapped (<c>::ffff:0:0/96</c>) and NAT64 (<c>64:ff9b::/96</c>) forms are judged by the IPv4
/// address they carry. Warden's own endpoints are refused always, even inside an opened range.
/// </summary>
public sealed class AddressPolicy
{
    private static readonly IpNetwork[] RefusedV4 =
    [
        N("0.0.0.0/8"), N("10.0.0.0/8"), N("100.64.0.0/10"), N("127.0.0.0/8"), N("169.254.0.0/16"), N("172.16.0.0/12"),
        N("192.0.0.0/24"), N("192.0.2.0/24"), N("192.88.99.0/24"), N("192.168.0.0/16"), N("198.18.0.0/15"),
        N("198.51.100.0/24"), N("203.0.113.0/24"), N("224.0.0.0/4"), N("240.0.0.0/4"),
    ];

    private static readonly IpNetwork GlobalUnicastV6 = N("2000::/3");

    private static readonly IpNetwork[] RefusedV6 =
    [
        N("2001::/32"), N("2001:db8::/32"), N("2002::/16"), N("64:ff9b:1::/48"), N("fc00::/7"), N("fe80::/10"), N("ff00::/8"),
    ];

    private static readonly IpNetwork Nat64 = N("64:ff9b::/96");

    private readonly ImmutableArray<PrivateRule> _opened;
    private readonly HostAddresses _host;
    private ImmutableArray<IPEndPoint> _own = ImmutableArray<IPEndPoint>.Empty;

    public AddressPolicy(IEnumerable<PrivateRule> opened, HostAddresses host)
    {
        ArgumentNullException.ThrowIfNull(opened);
        _opened = [.. opened];
        _host = host ?? throw new ArgumentNullException(nameof(host));
    }

    /// <summary>Warden's own listening endpoints (the server passes its bound URLs at start); refused always.</summary>
    public void AddOwnEndpoints(IEnumerable<IPEndPoint> endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ImmutableInterlocked.Update(ref _own, (list, add) => list.AddRange(add.Select(e => new IPEndPoint(Unwrap(e.Address), e.Port))), endpoints.ToList());
    }

    public IReadOnlyList<IPEndPoint> OwnEndpoints => _own;

    public AddressVerdict Check(IPAddress address, int port)
    {
        ArgumentNullException.ThrowIfNull(address);
        var a = Unwrap(address);
        if (IsOwnEndpoint(a, port)) return AddressVerdict.OwnEndpoint;
        if (!IsRefusedRange(a) && !_host.Contains(a)) return AddressVerdict.Allowed;
        foreach (var rule in _opened) if (rule.Covers(a, port)) return AddressVerdict.Allowed;
        return AddressVerdict.PrivateAddress;
    }

    /// <summary>Whether the range table alone refuses <paramref name="address"/> (for the start-up check of overrides).</summary>
    public static bool IsRefusedRange(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var a = Unwrap(address);
        if (a.AddressFamily == AddressFamily.InterNetwork) return RefusedV4.Any(n => n.Contains(a));
        if (a.AddressFamily != AddressFamily.InterNetworkV6) return true;
        var plain = a.ScopeId != 0 ? new IPAddress(a.GetAddressBytes()) : a;
        return !GlobalUnicastV6.Contains(plain) || RefusedV6.Any(n => n.Contains(plain));
    }

    /// <summary>The IPv4 address inside an IPv4-mapped or NAT64 IPv6 address; any other address unchanged.</summary>
    public static IPAddress Unwrap(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6) return address.MapToIPv4();
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && Nat64.Contains(new IPAddress(address.GetAddressBytes())))
            return new IPAddress(address.GetAddressBytes().AsSpan(12, 4));
        return address;
    }

    private bool IsOwnEndpoint(IPAddress a, int port)
    {
        foreach (var own in _own)
        {
            if (own.Port != port) continue;
            // A wildcard listener answers on every local address: loopback, the host's own, and the unspecified ones.
            if (own.Address.Equals(IPAddress.Any) || own.Address.Equals(IPAddress.IPv6Any))
            {
                if (IsLocal(a)) return true;
            }
            else if (own.Address.Equals(a)) return true;
            // 0.0.0.0 and :: as a destination reach the local host, so they reach every own endpoint on that port.
            else if (a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any)) return true;
        }
        return false;
    }

    private bool IsLocal(IPAddress a) =>
        IPAddress.IsLoopback(a) || a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any) || _host.Contains(a);

    private static IpNetwork N(string cidr) => IpNetwork.Parse(cidr);
}
