using System.Globalization;

namespace Warden.Core.Egress;

/// <summary>
/// Where a request goes: the host as written (not yet normalized), the port, and for plain HTTP the origin-form path.
/// Read from the CONNECT authority, the absolute-form URL (which must agree with <c>Host</c>), or <c>Host</c> alone.
/// </summary>
public sealed record EgressTarget(string Host, int Port, string PathAndQuery)
{
    public static bool TryFrom(HttpRequestHead head, out EgressTarget? target, out string? error)
    {
        ArgumentNullException.ThrowIfNull(head);
        target = null;
        if (head.IsConnect)
        {
            // authority-form; the port is not optional for CONNECT.
            if (!TryAuthority(head.Target, defaultPort: null, out var h, out var p, out error)) return false;
            target = new EgressTarget(h!, p, "");
            return true;
        }
        var host = head.Header("Host");
        string authority;
        string path;
        if (head.Target.StartsWith('/'))
        {
            if (string.IsNullOrEmpty(host)) { error = "no Host header"; return false; }
            authority = host;
            path = head.Target;
        }
        else if (head.Target.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            var rest = head.Target["http://".Length..];
            var slash = rest.IndexOfAny(['/', '?', '#']);
            authority = slash < 0 ? rest : rest[..slash];
            path = slash < 0 ? "/" : rest[slash..];
            if (path.StartsWith('?')) path = "/" + path;
            if (path.Contains('#', StringComparison.Ordinal)) { error = "a fragment in the request target"; return false; }
        }
        else if (head.Target.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            error = "https:// through a proxy must use CONNECT";
            return false;
        }
        else { error = "unsupported request target"; return false; }

        if (authority.Contains('@', StringComparison.Ordinal)) { error = "userinfo in the request target"; return false; }
        if (!TryAuthority(authority, 80, out var name, out var port, out error)) return false;
        if (host is not null && head.Target[0] != '/')
        {
            // The origin routes on Host; a proxy checking the URL while the origin obeys Host would check the wrong thing.
            if (!TryAuthority(host, 80, out var hName, out var hPort, out _) || !string.Equals(hName!.TrimEnd('.'), name!.TrimEnd('.'), StringComparison.OrdinalIgnoreCase) || hPort != port)
            { error = "Host header differs from the request target"; return false; }
        }
        target = new EgressTarget(name!, port, path);
        return true;
    }

    private static bool TryAuthority(string authority, int? defaultPort, out string? host, out int port, out string? error)
    {
        host = null;
        port = 0;
        error = null;
        string h;
        string? p;
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']', StringComparison.Ordinal);
            if (close < 0) { error = "malformed authority"; return false; }
            h = authority[..(close + 1)];
            var rest = authority[(close + 1)..];
            p = rest.Length == 0 ? null : rest.StartsWith(':') ? rest[1..] : "x";
        }
        else
        {
            var colon = authority.LastIndexOf(':');
            h = colon < 0 ? authority : authority[..colon];
            p = colon < 0 ? null : authority[(colon + 1)..];
        }
        if (h.Length == 0) { error = "empty host"; return false; }
        if (p is null)
        {
            if (defaultPort is null) { error = "CONNECT needs host:port"; return false; }
            port = defaultPort.Value;
        }
        else if (p.Length is 0 or > 5 || !p.All(char.IsAsciiDigit)
            || (port = int.Parse(p, NumberStyles.None, CultureInfo.InvariantCulture)) is < 1 or > 65535)
        { error = "invalid port"; return false; }
        host = h;
        return true;
    }
}
