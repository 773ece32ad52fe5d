using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Warden.Core.Execution;
using Warden.Core.Interop;

namespace Warden.Core.Sandboxing.Files;

/// <summary>How far one walk of a sandbox's tree may go.</summary>
/// <param name="MaxDepth">Directories below this many levels are not entered (reported as too deep).</param>
/// <param name="MaxEntries">Directory entries looked at in all; the walk stops there.</param>
/// <param name="MaxPathBytes">Longest relative path (UTF-8 bytes) a result may name.</param>
internal sealed record TreeLimits(int MaxDepth, int MaxEntries, int MaxPathBytes)
{
    public static TreeLimits Default { get; } = new(MaxDepth: 64, MaxEntries: 10_000, MaxPathBytes: 4096);
}

/// <summary>A regular file the walk met, open (read-only) while the visitor runs. Size and links are from fstat.</summary>
internal readonly record struct TreeFile(string Name, long Size, uint Links, int Descriptor);

internal sealed partial class SandboxTree
{
    private sealed class Frame(int fd, string prefix, int depth, List<(byte[] Name, byte Type)> entries)
    {
        public int Fd { get; } = fd;
        public string Prefix { get; } = prefix;
        public int Depth { get; } = depth;
        public List<(byte[] Name, byte Type)> Entries { get; } = entries;
        public int Next { get; set; }
    }

    /// <summary>
    /// Walks the tree depth-first, each directory's entries in byte order. <paramref name="onFile"/> gets every regular
    /// file (return false to stop); <paramref name="onSkipped"/> every other entry and why it was passed over. Directories
    /// are only walked. Returns false when a limit or the visitor stopped the walk before its end.
    /// </summary>
    public bool Walk(TreeLimits limits, Func<TreeFile, bool> onFile, Action<string, FileSkipReason> onSkipped, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(limits);
        int budget = limits.MaxEntries;
        bool complete = true;
        var stack = new Stack<Frame>();
        try
        {
            // A descriptor of its own for the root: getdents moves the file offset, which dup'd descriptors share.
            int rootFd = OpenEntry(_root, "."u8, Libc.O_RDONLY | Libc.O_DIRECTORY, 0, out var rootErrno);
            if (rootFd < 0) throw new IOException($"open workspace: {Libc.ErrorText(rootErrno)}");
            stack.Push(new Frame(rootFd, "", 0, ReadEntries(rootFd, ref budget)));
            while (stack.Count > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var frame = stack.Peek();
                if (frame.Next >= frame.Entries.Count)
                {
                    if (budget < 0 && complete)
                    {
                        onSkipped(frame.Prefix.Length == 0 ? "." : frame.Prefix.TrimEnd('/'), FileSkipReason.TooManyEntries);
                        complete = false;
                    }
                    Libc.close(stack.Pop().Fd);
                    continue;
                }
                var (rawName, direntType) = frame.Entries[frame.Next++];
                var decoded = Decode(rawName);
                var path = frame.Prefix + (decoded ?? Encoding.UTF8.GetString(rawName));
                if (decoded is null)
                {
                    onSkipped(path, FileSkipReason.NameNotUtf8);
                    continue;
                }
                if (Encoding.UTF8.GetByteCount(path) > limits.MaxPathBytes)
                {
                    onSkipped(path, FileSkipReason.NameTooLong);
                    continue;
                }
                int type = TypeOf(direntType);
                if (type == 0) type = TypeByName(frame.Fd, rawName);
                if (SpecialReason(type) is { } special)
                {
                    onSkipped(path, special);
                    continue;
                }
                if (type == Libc.S_IFDIR)
                {
                    if (frame.Depth + 1 > limits.MaxDepth)
                    {
                        onSkipped(path, FileSkipReason.TooDeep);
                        complete = false;
                        continue;
                    }
                    if (budget <= 0)
                    {
                        onSkipped(path, FileSkipReason.TooManyEntries);
                        complete = false;
                        continue;
                    }
                    int dir = OpenChecked(frame.Fd, rawName, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NONBLOCK, Libc.S_IFDIR, out _, out var dirReason);
                    if (dir < 0)
                    {
                        onSkipped(path, dirReason);
                        continue;
                    }
                    stack.Push(new Frame(dir, path + "/", frame.Depth + 1, ReadEntries(dir, ref budget)));
                    continue;
                }
                int file = OpenChecked(frame.Fd, rawName, Libc.O_RDONLY | Libc.O_NONBLOCK | Libc.O_NOCTTY, Libc.S_IFREG, out var stat, out var fileReason);
                if (file < 0)
                {
                    onSkipped(path, fileReason);
                    continue;
                }
                bool go;
                try { go = onFile(new TreeFile(path, (long)stat.Size, stat.Nlink, file)); }
                finally { Libc.close(file); }
                if (!go) return false;
            }
            return complete;
        }
        finally
        {
            while (stack.Count > 0) Libc.close(stack.Pop().Fd);
        }
    }

    /// <summary>
    /// Opens an entry and checks, on the open descriptor, that it is of <paramref name="expectedType"/> and on the tree's
    /// filesystem; -1 and the <paramref name="reason"/> otherwise. A check by name could be raced; this one cannot.
    /// </summary>
    private int OpenChecked(int dirFd, ReadOnlySpan<byte> name, int flags, int expectedType, out Statx stat, out FileSkipReason reason)
    {
        stat = default;
        reason = default;
        int fd = OpenEntry(dirFd, name, flags, 0, out var errno);
        if (fd < 0)
        {
            reason = ReasonFor(errno);
            return -1;
        }
        FileSkipReason? failed = !TryStat(fd, out stat) ? FileSkipReason.Unreadable
            : (stat.Mode & Libc.S_IFMT) != expectedType ? SpecialReason(stat.Mode & Libc.S_IFMT) ?? FileSkipReason.Changed
            : !SameFilesystem(stat) ? FileSkipReason.OtherFilesystem
            : null;
        if (failed is null) return fd;
        Libc.close(fd);
        reason = failed.Value;
        return -1;
    }

    /// <summary>
    /// The entries of an open directory (without "." and ".."), sorted by name bytes; at most <paramref name="budget"/>
    /// of them, which is charged (and goes negative when the directory had more).
    /// </summary>
    private static unsafe List<(byte[] Name, byte Type)> ReadEntries(int fd, ref int budget)
    {
        var entries = new List<(byte[] Name, byte Type)>();
        var buffer = ArrayPool<byte>.Shared.Rent(32 * 1024);
        try
        {
            while (budget > 0)
            {
                nint n;
                fixed (byte* p = buffer) n = Libc.getdents64(fd, p, buffer.Length);
                if (n <= 0) break; // end, or an error: what was read is what there is
                for (int offset = 0; offset < n;)
                {
                    // struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, then the NUL-terminated name.
                    int length = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(offset + 16));
                    byte type = buffer[offset + 18];
                    var nameSpan = buffer.AsSpan(offset + 19, length - 19);
                    nameSpan = nameSpan[..nameSpan.IndexOf((byte)0)];
                    offset += length;
                    if (IsDotOrDotDot(nameSpan)) continue;
                    if (--budget < 0) break;
                    entries.Add((nameSpan.ToArray(), type));
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        entries.Sort((a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));
        return entries;
    }

    /// <summary>
    /// Reads a file the walk handed over, exactly its fstat size and never more: a file that is shorter or longer by
    /// then changed under us and is not returned.
    /// </summary>
    public static unsafe (byte[]? Content, FileSkipReason Reason) ReadAll(TreeFile file)
    {
        if (file.Size > Array.MaxLength) return (null, FileSkipReason.TooLarge);
        var content = new byte[file.Size];
        long done = 0;
        fixed (byte* p = content)
        {
            while (done < content.Length)
            {
                nint n = Libc.read(file.Descriptor, p + done, (nint)(content.Length - done));
                if (n < 0 && Libc.LastError == Libc.EINTR) continue;
                if (n < 0) return (null, FileSkipReason.Unreadable);
                if (n == 0) return (null, FileSkipReason.Changed);
                done += n;
            }
            byte extra;
            nint more;
            do more = Libc.read(file.Descriptor, &extra, 1);
            while (more < 0 && Libc.LastError == Libc.EINTR);
            if (more != 0) return (null, FileSkipReason.Changed);
        }
        return (content, default);
    }
}
