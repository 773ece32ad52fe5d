using System.Globalization;
using System.Text;

namespace Warden.Core.Egress;

/// <summary>
/// A client's request head, read strictly. The proxy and the origin must agree on where a request ends, so anything
/// two parsers could read differently is refused, not repaired: obs-fold, bare LF, whitespace before a colon,
/// non-ASCII, duplicate or conflicting framing (<c>Content-Length</c> twice, with <c>Transfer-Encoding</c>, any coding
/// but exactly <c>chunked</c>), and <c>Upgrade</c>.
/// </summary>
public sealed record HttpRequestHead(string Method, string Target, string Version, IReadOnlyList<KeyValuePair<string, string>> Headers,
    long? ContentLength, bool Chunked)
{
    public const int MaxBytes = 16 * 1024;
    public const int MaxHeaders = 100;

    public bool IsConnect => Method == "CONNECT";

    public string? Header(string name) =>
        Headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;

    /// <summary>
    /// Parses a head from the start of <paramref name="buffer"/>. <see cref="HeadParse.Incomplete"/>: no blank line yet
    /// (read more unless the buffer is at <see cref="MaxBytes"/>); <paramref name="consumed"/> counts the head's bytes.
    /// </summary>
    public static HeadParse TryParse(ReadOnlySpan<byte> buffer, out HttpRequestHead? head, out int consumed, out string? error)
    {
        head = null;
        error = null;
        consumed = 0;
        var end = buffer.IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            if (buffer.Length >= MaxBytes) { error = "request head larger than 16 KiB"; return HeadParse.Invalid; }
            return HeadParse.Incomplete;
        }
        if (end + 4 > MaxBytes) { error = "request head larger than 16 KiB"; return HeadParse.Invalid; }
        consumed = end + 4;
        var bytes = buffer[..end];
        foreach (var b in bytes)
        {
            if (b >= 0x80 || (b < 0x20 && b is not (byte)'\r' and not (byte)'\n' and not (byte)'\t') || b == 0x7F)
            { error = "request head has non-ASCII or control bytes"; return HeadParse.Invalid; }
        }
        var text = Encoding.ASCII.GetString(bytes);
        // Every line must end in CRLF: a bare LF is a line end to some parsers and not to others.
        var lines = text.Split("\r\n");
        if (lines.Any(l => l.Contains('\n', StringComparison.Ordinal) || l.Contains('\r', StringComparison.Ordinal)))
        { error = "bare CR or LF in the request head"; return HeadParse.Invalid; }

        var parts = lines[0].Split(' ');
        if (parts.Length != 3 || parts[0].Length == 0 || !parts[0].All(IsTokenChar) || parts[1].Length == 0)
        { error = "malformed request line"; return HeadParse.Invalid; }
        if (parts[2] is not ("HTTP/1.1" or "HTTP/1.0")) { error = "only HTTP/1.0 and HTTP/1.1 are spoken"; return HeadParse.Invalid; }

        var headers = new List<KeyValuePair<string, string>>();
        long? contentLength = null;
        string? transferEncoding = null;
        var hosts = 0;
        for (var i = 1; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.Length > 0 && line[0] is ' ' or '\t') { error = "obsolete line folding"; return HeadParse.Invalid; }
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || !line[..colon].All(IsTokenChar)) { error = "malformed header line"; return HeadParse.Invalid; }
            if (headers.Count == MaxHeaders) { error = "more than 100 headers"; return HeadParse.Invalid; }
            var name = line[..colon];
            var value = line[(colon + 1)..].Trim(' ', '\t');
            headers.Add(new(name, value));
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                if (contentLength is not null) { error = "more than one Content-Length"; return HeadParse.Invalid; }
                if (value.Length is 0 or > 18 || !value.All(char.IsAsciiDigit)) { error = "invalid Content-Length"; return HeadParse.Invalid; }
                contentLength = long.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture);
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                if (transferEncoding is not null) { error = "more than one Transfer-Encoding"; return HeadParse.Invalid; }
                transferEncoding = value;
            }
            else if (name.Equals("Host", StringComparison.OrdinalIgnoreCase)) hosts++;
            else if (name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase)) { error = "Upgrade is not forwarded"; return HeadParse.Invalid; }
        }
        if (hosts > 1) { error = "more than one Host"; return HeadParse.Invalid; }
        if (transferEncoding is not null)
        {
            if (contentLength is not null) { error = "both Content-Length and Transfer-Encoding"; return HeadParse.Invalid; }
            if (!transferEncoding.Equals("chunked", StringComparison.OrdinalIgnoreCase)) { error = "Transfer-Encoding other than chunked"; return HeadParse.Invalid; }
        }
        head = new HttpRequestHead(parts[0], parts[1], parts[2], headers, contentLength, transferEncoding is not null);
        return HeadParse.Complete;
    }

    /// <summary>RFC 9110 token characters (method and header names).</summary>
    public static bool IsTokenChar(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9')
            or '!' or '#' or '$' or '%' or '&' or '\'' or '*' or '+' or '-' or '.' or '^' or '_' or '`' or '|' or '~';
}

public enum HeadParse
{
    Incomplete,
    Complete,
    Invalid,
}
