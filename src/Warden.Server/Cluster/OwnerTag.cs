using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Warden.Server.Cluster;

/// <summary>
/// Session and kernel ids that name their owner. An id is still a UUID (RFC 9562 version 8, the custom layout), so
/// Jupyter clients that expect UUIDs keep working; its first 32 bits are the owner's tag, a hash of the replica id and
/// its incarnation, and the remaining 90 free bits are random. Any replica can then route a request for a session from
/// memory, without asking the database, and an id of a replica that restarted no longer matches it.
/// </summary>
public static class OwnerTag
{
    /// <summary>The tag of one incarnation of a replica.</summary>
    public static uint Of(string replicaId, string incarnation) =>
        BinaryPrimitives.ReadUInt32BigEndian(SHA256.HashData(Encoding.UTF8.GetBytes(replicaId + "/" + incarnation)));

    /// <summary>A new random id carrying <paramref name="tag"/>.</summary>
    public static string NewId(uint tag)
    {
        Span<byte> bytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(bytes);
        BinaryPrimitives.WriteUInt32BigEndian(bytes, tag);
        bytes[6] = (byte)(0x80 | (bytes[6] & 0x0F));   // version 8
        bytes[8] = (byte)(0x80 | (bytes[8] & 0x3F));   // variant 10
        var hex = Convert.ToHexStringLower(bytes);
        return $"{hex[..8]}-{hex[8..12]}-{hex[12..16]}-{hex[16..20]}-{hex[20..]}";
    }

    /// <summary>The owner's tag in <paramref name="id"/>; false for anything but a version-8 UUID (ids from a single server, or garbage).</summary>
    public static bool TryParse(string? id, out uint tag)
    {
        tag = 0;
        if (id is not { Length: 36 } || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-') return false;
        if (id[14] != '8' || id[19] is not ('8' or '9' or 'a' or 'b' or 'A' or 'B')) return false;
        foreach (var c in id)
            if (c != '-' && !char.IsAsciiHexDigit(c)) return false;
        return uint.TryParse(id.AsSpan(0, 8), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out tag);
    }
}
