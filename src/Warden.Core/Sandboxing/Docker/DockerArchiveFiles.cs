using System.Formats.Tar;
using System.Text;
using Warden.Core.Execution;
using Warden.Core.Sandboxing.Files;
using Warden.Core.Sandboxing.Spec;

namespace Warden.Core.Sandboxing.Docker;

/// <summary>
/// Collects a Docker workspace from the tar the Engine's archive API streams (the daemon reads the container's files;
/// Warden never touches them). The archive is treated as hostile as the workspace itself: only regular-file entries are
/// returned; links, FIFOs and devices are reported; names that are absolute, have "..", empty segments, are not UTF-8
/// or too long or too deep are refused; a hard link only repeats a file already returned. Every size comes from the
/// header and is checked before a byte of data is read, and the whole stream is read through a byte budget, so a
/// 100 GB sparse file (streamed as zeros) or a huge extended header ends the read at the budget instead of at the
/// file's end.
/// </summary>
internal static class DockerArchiveFiles
{
    /// <summary>
    /// Raw archive bytes read at most: what a result may carry twice over, two of the largest files a stage could write
    /// (RLIMIT_FSIZE bounds sparse files too) to skip on the way, and headers; never more than 1 GiB. A tree that needs
    /// more is cut there and reported truncated.
    /// </summary>
    public static long BudgetFor(long maxBytes, long maxFileBytes) => Math.Min(2 * maxBytes + 2 * maxFileBytes + (16L << 20), 1L << 30);

    public static async Task<CollectedFiles> ReadAsync(Stream archive, string workspaceName, IReadOnlyDictionary<string, string> inputs,
        int maxFiles, long maxBytes, long budget, CancellationToken cancellationToken)
    {
        var limits = TreeLimits.Default;
        var files = new List<OutputFile>();
        var skipped = new List<SkippedFile>();
        var returned = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        long total = 0;
        bool truncated = false;
        int entries = 0;

        void Skip(string name, FileSkipReason reason)
        {
            if (reason is FileSkipReason.OverLimit or FileSkipReason.TooDeep or FileSkipReason.TooManyEntries) truncated = true;
            if (skipped.Count < CollectedFiles.MaxSkippedReported) skipped.Add(new SkippedFile(name, reason));
        }

        void Add(string name, byte[] content)
        {
            if (inputs.TryGetValue(name, out var original) && content.AsSpan().SequenceEqual(Encoding.UTF8.GetBytes(original))) return;
            if (files.Count >= maxFiles || total + content.Length > maxBytes)
            {
                Skip(name, FileSkipReason.OverLimit);
                return;
            }
            total += content.Length;
            files.Add(new OutputFile(name, content.Length, content));
            returned[name] = content;
        }

        var bounded = new BudgetStream(archive, budget);
        using var reader = new TarReader(bounded, leaveOpen: true);
        try
        {
            while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
            {
                var name = Relative(entry.Name, workspaceName);
                if (name is null) continue; // the workspace directory itself
                if (++entries > limits.MaxEntries)
                {
                    Skip(name, FileSkipReason.TooManyEntries);
                    break;
                }
                if (Refuse(name, limits) is { } refused)
                {
                    Skip(name, refused);
                    if (!CanPass(entry, bounded, name, Skip)) break;
                    continue;
                }
                switch (entry.EntryType)
                {
                    case TarEntryType.Directory:
                        continue;
                    case TarEntryType.SymbolicLink:
                        Skip(name, FileSkipReason.Symlink);
                        continue;
                    case TarEntryType.Fifo:
                        Skip(name, FileSkipReason.Fifo);
                        continue;
                    case TarEntryType.CharacterDevice or TarEntryType.BlockDevice:
                        Skip(name, FileSkipReason.Device);
                        continue;
                    case TarEntryType.HardLink:
                        // Another name of a file earlier in the archive: its content, if that file was returned.
                        var target = Relative(entry.LinkName, workspaceName);
                        if (target is not null && returned.TryGetValue(target, out var same)) Add(name, same);
                        else Skip(name, FileSkipReason.OverLimit);
                        continue;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        break;
                    default:
                        Skip(name, FileSkipReason.Unreadable); // GNU sparse and other kinds Docker does not write
                        if (!CanPass(entry, bounded, name, Skip)) return new CollectedFiles(files, skipped, truncated);
                        continue;
                }
                long size = entry.Length;
                bool isInput = inputs.TryGetValue(name, out var input) && size == Encoding.UTF8.GetByteCount(input);
                var reason = size > maxBytes ? FileSkipReason.TooLarge
                    : !isInput && (files.Count >= maxFiles || total + size > maxBytes) ? FileSkipReason.OverLimit
                    : (FileSkipReason?)null;
                if (reason is { } r)
                {
                    Skip(name, r);
                    if (!CanPass(entry, bounded, name, Skip)) break;
                    continue;
                }
                var content = new byte[size];
                if (entry.DataStream is { } data) await data.ReadExactlyAsync(content, cancellationToken).ConfigureAwait(false);
                Add(name, content);
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or ArgumentException or OverflowException or EndOfStreamException
            or IOException or HttpRequestException)
        {
            // A malformed or cut archive, or the budget: what was read is the result, marked incomplete.
            truncated = true;
            Skip(".", FileSkipReason.Unreadable);
        }
        return new CollectedFiles(files, skipped, truncated);
    }

    /// <summary>
    /// The workspace of one container as an archive for another's (a compiled language's run moving into a keeper with
    /// network): directories and regular files only, their names checked as <see cref="ReadAsync"/> checks them, their
    /// permission bits kept (a compiled binary stays executable), owned by <paramref name="user"/>, the new keeper's uid.
    /// Links, FIFOs and devices stay behind: nothing the compile stage wrote may point the next container's extraction
    /// anywhere. More than <paramref name="budget"/> archive bytes is an <see cref="IOException"/>.
    /// </summary>
    public static async Task<byte[]> RepackAsync(Stream archive, string workspaceName, SandboxUser user, long budget, CancellationToken cancellationToken)
    {
        var limits = TreeLimits.Default;
        var bounded = new BudgetStream(archive, budget);
        using var reader = new TarReader(bounded, leaveOpen: true);
        using var buffer = new MemoryStream();
        int entries = 0;
        try
        {
            using var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true);
            while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
            {
                var name = Relative(entry.Name, workspaceName);
                if (name is null || Refuse(name, limits) is not null) continue;
                if (++entries > limits.MaxEntries) throw new IOException("The workspace has more entries than a move carries.");
                var mode = entry.Mode & (UnixFileMode)0b111_111_111;
                if (entry.EntryType == TarEntryType.Directory)
                    await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.Directory, name + "/") { Uid = user.Uid, Gid = user.Gid, Mode = mode }, cancellationToken)
                        .ConfigureAwait(false);
                else if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile)
                    await writer.WriteEntryAsync(new PaxTarEntry(TarEntryType.RegularFile, name)
                    {
                        Uid = user.Uid, Gid = user.Gid, Mode = mode, DataStream = entry.DataStream ?? Stream.Null,
                    }, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or ArgumentException or OverflowException or EndOfStreamException)
        {
            throw new IOException("The workspace archive could not be read: " + e.Message, e);
        }
        return buffer.ToArray();
    }

    /// <summary>
    /// Whether the reader can move past <paramref name="entry"/>'s data within the budget (it reads it to skip it); when
    /// it cannot, the rest of the archive is given up, reported as truncated.
    /// </summary>
    private static bool CanPass(TarEntry entry, BudgetStream bounded, string name, Action<string, FileSkipReason> skip)
    {
        if (entry.Length <= bounded.Remaining) return true;
        skip(name, FileSkipReason.TooManyEntries);
        return false;
    }

    /// <summary>The name below the workspace ("sandbox/x" → "x"), or null for the workspace itself.</summary>
    private static string? Relative(string entryName, string workspaceName)
    {
        var trimmed = entryName.TrimEnd('/');
        if (trimmed == workspaceName) return null;
        if (trimmed.StartsWith(workspaceName + "/", StringComparison.Ordinal)) return trimmed[(workspaceName.Length + 1)..];
        return trimmed.StartsWith('/') ? trimmed : "/" + trimmed; // outside the workspace: refused as absolute
    }

    private static FileSkipReason? Refuse(string name, TreeLimits limits)
    {
        if (name.Contains('\uFFFD', StringComparison.Ordinal)) return FileSkipReason.NameNotUtf8; // the reader decoded invalid bytes so
        if (Encoding.UTF8.GetByteCount(name) > limits.MaxPathBytes) return FileSkipReason.NameTooLong;
        if (name.StartsWith('/') || name.Contains('\0', StringComparison.Ordinal)) return FileSkipReason.BadName;
        var parts = name.Split('/');
        if (parts.Any(p => p is "" or "." or "..")) return FileSkipReason.BadName;
        return parts.Length > limits.MaxDepth + 1 ? FileSkipReason.TooDeep : null;
    }

    /// <summary>A read-only view of a stream that fails once more than its budget has been read.</summary>
    private sealed class BudgetStream(Stream inner, long budget) : Stream
    {
        private long _read;

        public long Remaining => budget - _read;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer[..Allowed(buffer.Length)]);
            _read += n;
            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n = await inner.ReadAsync(buffer[..Allowed(buffer.Length)], cancellationToken).ConfigureAwait(false);
            _read += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int Allowed(int wanted)
        {
            if (wanted > 0 && _read >= budget) throw new IOException("The archive is larger than collecting its files may read.");
            return (int)Math.Min(wanted, budget - _read);
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
