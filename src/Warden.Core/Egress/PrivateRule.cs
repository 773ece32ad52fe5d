using System.Globalization;
using System.Net;

namespace Warden.Core.Egress;

/// <summary>
/// One <c>WARDEN_EGRESS_ALLOW_PRIVATE</c> entry: a refused range the operator opened, optionally on one port only
/// (<c>10.0.0.0/8</c>, <c>127.0.0.1/32:8081</c>, <c>[::1/128]:8081</c>).
/// </summary>
public sealed record PrivateRule(IpNetwork Network, int? Port)
{
    public static bool TryParse(string text, out PrivateRule? rule, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        rule = null;
        var s = text.Trim();
        string cidr;
        string? port = null;
        if (s.StartsWith('['))
        {
            var close = s.IndexOf(']', StringComparison.Ordinal);
            if (close < 0) { error = $"'{s}': missing ']'"; return false; }
            cidr = s[1..close];
            var rest = s[(close + 1)..];
            if (rest.Length > 0)
            {
                if (!rest.StartsWith(':')) { error = $"'{s}': expected ':port' after ']'"; return false; }
                port = rest[1..];
            }
        }
        else if (s.Count(c => c == ':') == 1)
        {
            var colon = s.IndexOf(':', StringComparison.Ordinal);
            cidr = s[..colon];
            port = s[(colon + 1)..];
        }
        else cidr = s;
        if (!IpNetwork.TryParse(cidr, out var network)) { error = $"'{s}' is not a CIDR range (address/length, host bits zero)"; return false; }
        int? p = null;
        if (port is not null)
        {
            if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value is < 1 or > 65535)
            { error = $"'{s}' has an invalid port"; return false; }
            p = value;
        }
        rule = new PrivateRule(network!, p);
        error = null;
        return true;
    }

    public bool Covers(IPAddress address, int port) => Network.Contains(address) && (Port is null || Port == port);
}
