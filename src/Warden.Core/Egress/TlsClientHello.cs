using System.Buffers.Binary;
using System.Text;

namespace Warden.Core.Egress;

/// <summary>
/// Reads the server name (SNI) from the first bytes a client sends after CONNECT: TLS handshake records (content type
/// 22), reassembled across records (a ClientHello may be split), up to <see cref="MaxBytes"/>. Only the SNI is read;
/// everything else is forwarded untouched once the name has been checked.
/// </summary>
public static class TlsClientHello
{
    public const int MaxBytes = 16 * 1024;

    /// <summary>
    /// <see cref="SniParse.Incomplete"/>: read more (unless <paramref name="data"/> is at <see cref="MaxBytes"/>).
    /// <see cref="SniParse.Found"/>: <paramref name="serverName"/> is the name as sent (ASCII, not yet normalized).
    /// </summary>
    public static SniParse TryRead(ReadOnlySpan<byte> data, out string? serverName)
    {
        serverName = null;
        if (data.Length >= 1 && data[0] != 22) return SniParse.NotTls;
        // Reassemble the handshake message from consecutive handshake records.
        var message = new byte[Math.Min(data.Length, MaxBytes)];
        var messageLength = 0;
        var offset = 0;
        while (true)
        {
            if (data.Length - offset < 5) return data.Length >= MaxBytes ? SniParse.TooLarge : SniParse.Incomplete;
            if (data[offset] != 22) return SniParse.Malformed;
            if (data[offset + 1] != 3) return SniParse.NotTls;
            int recordLength = BinaryPrimitives.ReadUInt16BigEndian(data[(offset + 3)..]);
            if (recordLength == 0 || recordLength > 16384 + 256) return SniParse.Malformed;
            if (data.Length - offset - 5 < recordLength) return offset + 5 + recordLength > MaxBytes ? SniParse.TooLarge : SniParse.Incomplete;
            var fragment = data.Slice(offset + 5, recordLength);
            if (messageLength + fragment.Length > message.Length) return SniParse.TooLarge;
            fragment.CopyTo(message.AsSpan(messageLength));
            messageLength += fragment.Length;
            offset += 5 + recordLength;
            if (messageLength >= 4)
            {
                if (message[0] != 1) return SniParse.Malformed;
                var bodyLength = (message[1] << 16) | (message[2] << 8) | message[3];
                if (4 + bodyLength > MaxBytes) return SniParse.TooLarge;
                if (messageLength >= 4 + bodyLength) return ParseHello(message.AsSpan(4, bodyLength), out serverName);
            }
        }
    }

    private static SniParse ParseHello(ReadOnlySpan<byte> hello, out string? serverName)
    {
        serverName = null;
        var r = new Reader(hello);
        if (!r.Skip(2 + 32)) return SniParse.Malformed;                // legacy_version, random
        if (!r.Vector8(out _) || !r.Vector16(out _) || !r.Vector8(out _)) return SniParse.Malformed; // session id, suites, compression
        if (r.Remaining == 0) return SniParse.NoSni;                  // no extensions at all
        if (!r.Vector16(out var extensions) || r.Remaining != 0) return SniParse.Malformed;
        var e = new Reader(extensions);
        var found = false;
        while (e.Remaining > 0)
        {
            if (!e.UInt16(out var type) || !e.Vector16(out var body)) return SniParse.Malformed;
            if (type != 0) continue;
            // Two server_name extensions would let two readers pick different names.
            if (found) return SniParse.Malformed;
            found = true;
            var s = new Reader(body);
            if (!s.Vector16(out var list) || s.Remaining != 0) return SniParse.Malformed;
            var l = new Reader(list);
            while (l.Remaining > 0)
            {
                if (!l.Byte(out var nameType) || !l.Vector16(out var name)) return SniParse.Malformed;
                if (nameType != 0) continue;
                if (serverName is not null || name.Length == 0) return SniParse.Malformed;
                foreach (var b in name) if (b is < 0x21 or > 0x7E) return SniParse.Malformed;
                serverName = Encoding.ASCII.GetString(name);
            }
        }
        return serverName is null ? SniParse.NoSni : SniParse.Found;
    }

    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _data = data;

        public readonly int Remaining => _data.Length;

        public bool Skip(int n)
        {
            if (_data.Length < n) return false;
            _data = _data[n..];
            return true;
        }

        public bool Byte(out byte value)
        {
            value = 0;
            if (_data.Length < 1) return false;
            value = _data[0];
            _data = _data[1..];
            return true;
        }

        public bool UInt16(out int value)
        {
            value = 0;
            if (_data.Length < 2) return false;
            value = BinaryPrimitives.ReadUInt16BigEndian(_data);
            _data = _data[2..];
            return true;
        }

        public bool Vector8(out ReadOnlySpan<byte> body)
        {
            body = default;
            if (!Byte(out var n) || _data.Length < n) return false;
            body = _data[..n];
            _data = _data[n..];
            return true;
        }

        public bool Vector16(out ReadOnlySpan<byte> body)
        {
            body = default;
            if (!UInt16(out var n) || _data.Length < n) return false;
            body = _data[..n];
            _data = _data[n..];
            return true;
        }
    }
}

public enum SniParse
{
    Incomplete,
    Found,
    NoSni,
    NotTls,
    Malformed,
    TooLarge,
}
