using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Warden.Core.Egress;

/// <summary>An address range in CIDR form (<c>10.0.0.0/8</c>, <c>fc00::/7</c>).</summary>
public sealed record IpNetwork(IPAddress Prefix, int Length)
{
    public static IpNetwork Parse(string cidr) =>
        TryParse(cidr, out var n) ? n! : throw new FormatException($"'{cidr}' is not a CIDR range (address/length)");

    public static bool TryParse(string cidr, out IpNetwork? network)
    {
        ArgumentNullException.ThrowIfNull(cidr);
        network = null;
        var slash = cidr.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !IPAddress.TryParse(cidr[..slash], out var address)) return false;
        if (!int.TryParse(cidr[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var length)) return false;
        var max = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        if (length > max || (address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0)) return false;
        // Host bits set (10.0.0.1/8) are almost always a typo for a narrower range: refuse rather than guess.
        if (!Mask(address.GetAddressBytes(), length).SequenceEqual(address.GetAddressBytes())) return false;
        network = new IpNetwork(address, length);
        return true;
    }

    public bool Contains(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != Prefix.AddressFamily) return false;
        return Mask(address.GetAddressBytes(), Length).SequenceEqual(Prefix.GetAddressBytes());
    }

    private static byte[] Mask(byte[] bytes, int length)
    {
        var result = (byte[])bytes.Clone();
        for (var i = 0; i < result.Length; i++)
        {
            var keep = Math.Clamp(length - (i * 8), 0, 8);
            result[i] &= (byte)(0xFF << (8 - keep));
        }
        return result;
    }

    public override string ToString() => $"{Prefix}/{Length.ToString(CultureInfo.InvariantCulture)}";
}
