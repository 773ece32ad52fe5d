using System.Buffers.Binary;
using System.Text;

namespace Warden.Core.Workspaces;

/// <summary>
/// The few fields of an ext4 superblock Warden reads from a user's image before it mounts it: its size, its inode
/// count, whether it was unmounted cleanly, and the label that records the file quota it was made for.
/// </summary>
internal sealed record Ext4Superblock(long InodesCount, long InodesPerGroup, int InodeSize, long FirstInode, long BlocksCount, int BlockSize, bool Clean,
    string Label)
{
    private const int Offset = 1024;
    private const ushort Magic = 0xEF53;
    private const ushort ValidFs = 1, ErrorFs = 2;
    private const uint Feature64Bit = 0x80;

    public long SizeBytes => BlocksCount * BlockSize;

    /// <summary>Files and directories a user can create: every inode but the reserved ones (root directory included).
    /// lost+found (the first free one) is removed when the image is made.</summary>
    public long UserInodes => InodesCount - (FirstInode - 1);

    /// <summary>The superblock of <paramref name="image"/>, or null when it is not an ext4 filesystem.</summary>
    public static Ext4Superblock? Read(string image)
    {
        var buffer = new byte[1024];
        using (var file = new FileStream(image, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.None))
        {
            if (file.Length < Offset + buffer.Length) return null;
            file.Position = Offset;
            file.ReadExactly(buffer);
        }
        var s = buffer.AsSpan();
        if (BinaryPrimitives.ReadUInt16LittleEndian(s[56..]) != Magic) return null;
        long inodes = BinaryPrimitives.ReadUInt32LittleEndian(s);
        long blocks = BinaryPrimitives.ReadUInt32LittleEndian(s[4..]);
        uint incompat = BinaryPrimitives.ReadUInt32LittleEndian(s[96..]);
        if ((incompat & Feature64Bit) != 0) blocks |= (long)BinaryPrimitives.ReadUInt32LittleEndian(s[336..]) << 32;
        int blockSize = 1024 << (int)BinaryPrimitives.ReadUInt32LittleEndian(s[24..]);
        ushort state = BinaryPrimitives.ReadUInt16LittleEndian(s[58..]);
        var label = Encoding.ASCII.GetString(s.Slice(120, 16)).TrimEnd('\0');
        long firstInode = BinaryPrimitives.ReadUInt32LittleEndian(s[84..]);
        long inodesPerGroup = BinaryPrimitives.ReadUInt32LittleEndian(s[40..]);
        int inodeSize = BinaryPrimitives.ReadUInt16LittleEndian(s[88..]);
        return new Ext4Superblock(inodes, inodesPerGroup, inodeSize, firstInode, blocks, blockSize, (state & ValidFs) != 0 && (state & ErrorFs) == 0, label);
    }
}
