using System.Globalization;
using System.Net;

namespace Warden.Core.Egress;

/// <summary>
/// Host names as the policy compares them: ASCII (IDNA), lowercase, no trailing dot. Anything an address parser could
/// read as a number is a literal, never a name: glibc's <c>inet_aton</c> accepts <c>2130706433</c>, <c>0x7f.1</c> and
/// <c>127.1</c>, so a name made only of numeric labels could reach an address no pattern meant to allow.
/// </summary>
public static class EgressHostName
{
    private const int MaxLength = 253;
    private static readonly IdnMapping Idn = new() { AllowUnassigned = false, UseStd3AsciiRules = false };

    /// <summary>The canonical form of <paramref name="host"/>, or null when it is not a well-formed DNS name.</summary>
    public static string? Normalize(string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (host.EndsWith('.')) host = host[..^1];
        if (host.Length == 0) return null;
        string ascii;
        if (host.All(char.IsAscii)) ascii = host.ToLowerInvariant();
        else
        {
            try { ascii = Idn.GetAscii(host).ToLowerInvariant(); }
            catch (ArgumentException) { return null; }
        }
        if (ascii.Length > MaxLength) return null;
        foreach (var label in ascii.Split('.'))
        {
            if (label.Length is 0 or > 63) return null;
            if (label[0] == '-' || label[^1] == '-') return null;
            // Underscores occur in real names (service records, some CDNs); they are harmless to a resolver.
            if (!label.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_')) return null;
        }
        return ascii;
    }

    /// <summary>True for an IP literal or a name every label of which is numeric (decimal, octal or hex).</summary>
    public static bool IsLiteral(string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var h = host.Trim('[', ']');
        if (IPAddress.TryParse(h, out _)) return true;
        if (h.EndsWith('.')) h = h[..^1];
        return h.Length > 0 && h.Split('.').All(IsNumericLabel);
    }

    private static bool IsNumericLabel(string label)
    {
        if (label.Length == 0) return false;
        if (label.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return label[2..].All(char.IsAsciiHexDigit);
        return label.All(char.IsAsciiDigit);
    }
}
