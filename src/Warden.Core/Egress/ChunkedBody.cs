using System.Buffers;
using System.Globalization;
using System.Text;

namespace Warden.Core.Egress;

/// <summary>
/// Forwards a <c>Transfer-Encoding: chunked</c> request body, read strictly and written again in canonical form
/// (<c>SIZE CRLF data CRLF</c> … <c>0 CRLF CRLF</c>, no extensions, no trailers). The proxy and the origin must agree
/// on where the body ends: anything two parsers could read differently (bare LF, whitespace, signs, oversized or
/// overflowing sizes, data not followed by CRLF) ends the connection instead of being passed on.
/// </summary>
internal sealed class ChunkedBody
{
    private const int MaxLineBytes = 4096;
    private const int MaxTrailerBytes = 16 * 1024;
    private readonly Stream _source;
    private readonly byte[] _buffer;
    private int _start;
    private int _end;

    private ChunkedBody(Stream source, byte[] buffer)
    {
        _source = source;
        _buffer = buffer;
    }

    /// <summary>
    /// Copies the body from <paramref name="source"/> to <paramref name="destination"/>; <paramref name="count"/> is
    /// asked before each write (false: stop, the cap is reached). Throws <see cref="InvalidDataException"/> on bad framing.
    /// </summary>
    public static async Task CopyAsync(Stream source, Stream destination, Func<long, bool> count, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            await new ChunkedBody(source, buffer).RunAsync(destination, count, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task RunAsync(Stream destination, Func<long, bool> count, CancellationToken token)
    {
        while (true)
        {
            var line = await ReadLineAsync(MaxLineBytes, token).ConfigureAwait(false);
            var size = ParseSize(line);
            if (size == 0) break;
            var prefix = Encoding.ASCII.GetBytes(size.ToString("X", CultureInfo.InvariantCulture) + "\r\n");
            if (!count(prefix.Length)) return;
            await destination.WriteAsync(prefix, token).ConfigureAwait(false);
            for (var remaining = size; remaining > 0;)
            {
                if (_start == _end) await FillAsync(token).ConfigureAwait(false);
                var n = (int)Math.Min(remaining, _end - _start);
                if (!count(n)) return;
                await destination.WriteAsync(_buffer.AsMemory(_start, n), token).ConfigureAwait(false);
                _start += n;
                remaining -= n;
            }
            if ((await ReadLineAsync(2, token).ConfigureAwait(false)).Length != 0) throw new InvalidDataException("chunk data not followed by CRLF");
            if (!count(2)) return;
            await destination.WriteAsync("\r\n"u8.ToArray(), token).ConfigureAwait(false);
        }
        // Trailer fields are read to find the end, and not forwarded (they could carry what the head check refused).
        for (var trailer = 0; ;)
        {
            var line = await ReadLineAsync(MaxLineBytes, token).ConfigureAwait(false);
            if (line.Length == 0) break;
            if ((trailer += line.Length + 2) > MaxTrailerBytes) throw new InvalidDataException("chunked trailer larger than 16 KiB");
        }
        if (!count(5)) return;
        await destination.WriteAsync("0\r\n\r\n"u8.ToArray(), token).ConfigureAwait(false);
    }

    /// <summary>1 to 16 hex digits, optionally followed by <c>;extension</c> (dropped).</summary>
    internal static long ParseSize(ReadOnlySpan<byte> line)
    {
        var semicolon = line.IndexOf((byte)';');
        var digits = semicolon < 0 ? line : line[..semicolon];
        if (digits.Length is 0 or > 15) throw new InvalidDataException("invalid chunk size");
        long size = 0;
        foreach (var b in digits)
        {
            var v = HexValue(b);
            if (v < 0) throw new InvalidDataException("invalid chunk size");
            size = (size << 4) | (uint)v;
        }
        if (semicolon >= 0)
        {
            foreach (var b in line[(semicolon + 1)..])
                if (b is < 0x20 or > 0x7e) throw new InvalidDataException("invalid chunk extension");
        }
        return size;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };

    /// <summary>A line ending in CRLF (returned without it); a bare CR or LF, or a line over <paramref name="max"/>, is refused.</summary>
    private async Task<byte[]> ReadLineAsync(int max, CancellationToken token)
    {
        var line = new List<byte>();
        while (true)
        {
            if (_start == _end) await FillAsync(token).ConfigureAwait(false);
            var b = _buffer[_start++];
            if (b == '\r')
            {
                if (_start == _end) await FillAsync(token).ConfigureAwait(false);
                if (_buffer[_start++] != '\n') throw new InvalidDataException("bare CR in chunked framing");
                return [.. line];
            }
            if (b == '\n') throw new InvalidDataException("bare LF in chunked framing");
            if (line.Count >= max) throw new InvalidDataException("chunked framing line too long");
            line.Add(b);
        }
    }

    private async Task FillAsync(CancellationToken token)
    {
        _start = 0;
        _end = await _source.ReadAsync(_buffer, token).ConfigureAwait(false);
        if (_end == 0) throw new IOException("the client closed before the end of its chunked body");
    }
}
