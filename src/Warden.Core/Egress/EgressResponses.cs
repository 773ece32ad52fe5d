using System.Globalization;
using System.Text;

namespace Warden.Core.Egress;

/// <summary>What the proxy answers itself: the CONNECT acknowledgement and refusals a person can read in pip or curl.</summary>
internal static class EgressResponses
{
    public static ReadOnlyMemory<byte> ConnectEstablished { get; } = "HTTP/1.1 200 Connection Established\r\n\r\n"u8.ToArray();

    public static byte[] Refusal(int status, string reason, string? host, string detail)
    {
        var body = $"warden egress: {host ?? "-"} refused ({reason}): {detail}\n";
        var phrase = status switch { 400 => "Bad Request", 403 => "Forbidden", 411 => "Length Required", 502 => "Bad Gateway", _ => "Error" };
        var head = string.Create(CultureInfo.InvariantCulture,
            $"HTTP/1.1 {status} {phrase}\r\nX-Warden-Egress: refused; reason={reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n");
        return Encoding.UTF8.GetBytes(head + body);
    }
}
