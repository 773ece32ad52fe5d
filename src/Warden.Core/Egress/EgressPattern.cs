namespace Warden.Core.Egress;

/// <summary>
/// One allow-list entry: an exact name (<c>pypi.org</c>), a suffix (<c>*.pythonhosted.org</c>: subdomains only, never
/// the apex), or <c>*</c> (any public name); optionally <c>:port</c> or <c>:*</c>. Without a port, a pattern allows
/// 443 for CONNECT and 80 for plain HTTP.
/// </summary>
public sealed record EgressPattern
{
    public const int DefaultPorts = -1;
    public const int AnyPort = 0;

    private EgressPattern(string text, EgressPatternKind kind, string name, int port)
    {
        Text = text;
        Kind = kind;
        Name = name;
        Port = port;
    }

    /// <summary>The pattern as it is written back in messages and metric labels (canonical form).</summary>
    public string Text { get; }
    public EgressPatternKind Kind { get; }
    /// <summary>The exact name, or the suffix without <c>*.</c>; empty for <see cref="EgressPatternKind.Any"/>.</summary>
    public string Name { get; }
    /// <summary>A port, <see cref="AnyPort"/>, or <see cref="DefaultPorts"/> (443 CONNECT / 80 HTTP).</summary>
    public int Port { get; }

    public override string ToString() => Text;

    /// <summary>Parses one pattern; the error says what is wrong, for a message naming the setting.</summary>
    public static bool TryParse(string text, out EgressPattern? pattern, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        pattern = null;
        var s = text.Trim();
        if (s.Length == 0) { error = "empty pattern"; return false; }
        if (s.StartsWith('[') || s.Contains("::", StringComparison.Ordinal)) { error = $"'{s}' is an IP literal; patterns name hosts"; return false; }
        var port = DefaultPorts;
        var colon = s.LastIndexOf(':');
        if (colon >= 0)
        {
            var p = s[(colon + 1)..];
            if (p == "*") port = AnyPort;
            else if (!int.TryParse(p, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
            { error = $"'{s}' has an invalid port"; return false; }
            s = s[..colon];
        }
        EgressPatternKind kind;
        string name;
        if (s == "*") { kind = EgressPatternKind.Any; name = ""; }
        else
        {
            kind = s.StartsWith("*.", StringComparison.Ordinal) ? EgressPatternKind.Suffix : EgressPatternKind.Exact;
            var raw = kind == EgressPatternKind.Suffix ? s[2..] : s;
            if (raw.Contains('*', StringComparison.Ordinal)) { error = $"'{text.Trim()}': '*' is allowed only as the whole pattern or a leading '*.'"; return false; }
            if (EgressHostName.IsLiteral(raw)) { error = $"'{text.Trim()}' is an IP literal or numeric name; patterns name hosts"; return false; }
            var normalized = EgressHostName.Normalize(raw);
            if (normalized is null) { error = $"'{text.Trim()}' is not a valid host name"; return false; }
            // "*.com" would open a whole top-level domain: a suffix needs at least two labels.
            if (kind == EgressPatternKind.Suffix && !normalized.Contains('.', StringComparison.Ordinal))
            { error = $"'{text.Trim()}': a '*.' suffix needs at least two labels"; return false; }
            name = normalized;
        }
        var canonical = (kind switch { EgressPatternKind.Any => "*", EgressPatternKind.Suffix => "*." + name, _ => name })
            + (port switch { DefaultPorts => "", AnyPort => ":*", _ => ":" + port.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        pattern = new EgressPattern(canonical, kind, name, port);
        error = null;
        return true;
    }

    public static EgressPattern Parse(string text) =>
        TryParse(text, out var p, out var error) ? p! : throw new FormatException(error);

    /// <summary>Whether this pattern allows <paramref name="host"/> (canonical, never a literal) on <paramref name="port"/>.</summary>
    public bool Matches(string host, int port, bool connect)
    {
        ArgumentNullException.ThrowIfNull(host);
        return MatchesName(host) && PortMatches(port, connect);
    }

    /// <summary>Whether this pattern names <paramref name="host"/> (canonical) on some port.</summary>
    public bool MatchesName(string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return Kind switch
        {
            EgressPatternKind.Any => true,
            EgressPatternKind.Exact => host == Name,
            _ => host.Length > Name.Length + 1 && host.EndsWith("." + Name, StringComparison.Ordinal),
        };
    }

    private bool PortMatches(int port, bool connect) => Port switch
    {
        AnyPort => true,
        DefaultPorts => port == (connect ? 443 : 80),
        _ => port == Port,
    };

    /// <summary>Whether everything this pattern allows is allowed by <paramref name="ceiling"/>.</summary>
    public bool IsWithin(EgressPattern ceiling)
    {
        ArgumentNullException.ThrowIfNull(ceiling);
        var portOk = ceiling.Port == AnyPort || ceiling.Port == Port;
        if (!portOk) return false;
        return ceiling.Kind switch
        {
            EgressPatternKind.Any => true,
            EgressPatternKind.Exact => Kind == EgressPatternKind.Exact && Name == ceiling.Name,
            _ => Kind != EgressPatternKind.Any
                && ((Kind == EgressPatternKind.Suffix && Name == ceiling.Name)
                    || Name.EndsWith("." + ceiling.Name, StringComparison.Ordinal)),
        };
    }
}

public enum EgressPatternKind
{
    Exact,
    Suffix,
    Any,
}
