using System.Net.Sockets;
using System.Text;

namespace Warden.Server.Tests.Fuzz;

/// <summary>How a request's body is sent: whole, or announced longer than it is and cut off (the client half-closes).</summary>
internal enum BodyDelivery
{
    Whole,
    Truncated,
}

/// <summary>
/// One HTTP/1.1 request exactly as the fuzzer writes it to the socket. Raw bytes, not HttpClient: the fuzzer must be able
/// to send what HttpClient refuses (invalid UTF-8 in headers and targets, lying Content-Length, odd methods).
/// </summary>
internal sealed record FuzzRequest(string Operation, string Method, byte[] Target, IReadOnlyList<KeyValuePair<string, byte[]>> Headers, byte[]? Body,
    BodyDelivery Delivery, IReadOnlyList<string> Mutations)
{
    /// <summary>Bytes that no HTTP server has to take to the application (invalid UTF-8 in a header or the target, NUL, raw
    /// control characters in the target): Kestrel may refuse them itself with a bare 400/414/431, before Warden sees them.</summary>
    public bool ProtocolHostile { get; init; }

    public string TargetText => Encoding.UTF8.GetString(Target);

    public string? Header(string name) =>
        Headers.Where(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Select(h => Encoding.UTF8.GetString(h.Value)).FirstOrDefault();

    public byte[] Serialize(string host)
    {
        using var stream = new MemoryStream();
        void Write(string s) => stream.Write(Encoding.ASCII.GetBytes(s));
        Write(Method + " ");
        stream.Write(Target);
        Write(" HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n");
        foreach (var (name, value) in Headers)
        {
            Write(name + ": ");
            stream.Write(value);
            Write("\r\n");
        }
        if (Body is not null)
        {
            var announced = Delivery == BodyDelivery.Truncated ? Body.Length + 64 : Body.Length;
            Write($"Content-Length: {announced}\r\n");
        }
        Write("\r\n");
        if (Body is not null) stream.Write(Body);
        return stream.ToArray();
    }

    /// <summary>The request as a Python bytes literal (replay: <c>socket.create_connection(...).sendall(b'…')</c>), cut at <paramref name="max"/> bytes.</summary>
    public string Describe(string host, int max = 4096)
    {
        var bytes = Serialize(host);
        var shown = new StringBuilder("b'");
        foreach (var b in bytes.Take(max))
        {
            shown.Append(b switch
            {
                (byte)'\\' => "\\\\",
                (byte)'\'' => "\\'",
                (byte)'\r' => "\\r",
                (byte)'\n' => "\\n",
                >= 0x20 and < 0x7f => ((char)b).ToString(),
                _ => $"\\x{b:x2}",
            });
        }
        shown.Append('\'');
        if (bytes.Length > max) shown.Append($" … ({bytes.Length} bytes in all)");
        if (Delivery == BodyDelivery.Truncated) shown.Append(" then shutdown(SHUT_WR) (Content-Length claims 64 bytes more)");
        return $"{Operation} [{string.Join(", ", Mutations)}]\n    {shown}";
    }
}

internal sealed record FuzzResponse(int Status, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string? ContentType => Headers.TryGetValue("content-type", out var v) ? v : null;

    public string BodyText => Encoding.UTF8.GetString(Body);
}

/// <summary>Sends one <see cref="FuzzRequest"/> on its own connection and reads the whole answer (the server closes after it).</summary>
internal static class RawHttp
{
    public static async Task<FuzzResponse> SendAsync(Uri server, FuzzRequest request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.Host, server.Port, deadline.Token);
        var bytes = request.Serialize($"{server.Host}:{server.Port}");
        try
        {
            await socket.SendAsync(bytes, SocketFlags.None, deadline.Token);
            if (request.Delivery == BodyDelivery.Truncated) socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // The server may answer (413, 400) and close before it has read a large body: read what it said.
        }
        using var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            int n;
            try
            {
                n = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token);
            }
            catch (SocketException) when (received.Length > 0)
            {
                break;
            }
            if (n == 0) break;
            received.Write(buffer, 0, n);
        }
        return Parse(received.ToArray(), head: request.Method == "HEAD");
    }

    private static FuzzResponse Parse(byte[] data, bool head)
    {
        var end = data.AsSpan().IndexOf("\r\n\r\n"u8);
        if (end < 0) throw new InvalidDataException($"No HTTP response head in {data.Length} bytes: '{Encoding.UTF8.GetString(data.AsSpan(0, Math.Min(200, data.Length)))}'");
        var lines = Encoding.ASCII.GetString(data, 0, end).Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0) headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        var body = head ? [] : data.AsSpan(end + 4).ToArray();
        if (headers.TryGetValue("transfer-encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase)) body = Dechunk(body);
        return new FuzzResponse(status, headers, body);
    }

    private static byte[] Dechunk(byte[] data)
    {
        using var output = new MemoryStream();
        int i = 0;
        while (i < data.Length)
        {
            var lineEnd = data.AsSpan(i).IndexOf("\r\n"u8);
            if (lineEnd < 0) break;
            var sizeText = Encoding.ASCII.GetString(data, i, lineEnd).Split(';')[0];
            var size = Convert.ToInt32(sizeText, 16);
            i += lineEnd + 2;
            if (size == 0) break;
            output.Write(data, i, Math.Min(size, data.Length - i));
            i += size + 2;
        }
        return output.ToArray();
    }
}
