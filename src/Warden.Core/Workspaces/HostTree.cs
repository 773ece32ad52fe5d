using System.Buffers.Binary;
using Warden.Core.Interop;

namespace Warden.Core.Workspaces;

/// <summary>What copying a user's tree did.</summary>
/// <param name="Skipped">Entries left out on purpose: FIFOs, sockets and device nodes (no data to keep).</param>
/// <param name="Incomplete">Why some data was not copied (destination full, too deep, unreadable), or null.</param>
internal sealed record TreeCopyReport(int Files, int Directories, int Links, long Bytes, int Skipped, string? Incomplete)
{
    public bool Complete => Incomplete is null;
}

/// <summary>
/// Copies and deletes trees a user wrote, from the host, as root, without trusting them: every step is relative to an
/// open directory descriptor, with O_NOFOLLOW, and the type of an entry is taken from the descriptor actually opened
/// (statx on it), so a symlink, a FIFO or an entry swapped for one is never followed, opened for reading or blocked on.
/// Symlinks are copied as symlinks (their text, never their target), hard links as hard links, regular files with their
/// holes; FIFOs, sockets and device nodes are left out. Ownership goes to the user's uid, modes lose setuid/setgid.
/// Names are bytes (getdents64), so names that are not UTF-8 survive. Depth is bounded (one descriptor per level).
/// </summary>
internal static unsafe class HostTree
{
    public const int MaxDepth = 256;
    private const int ChunkBytes = 64 << 10;

    /// <summary>"" for statx(fd, "", AT_EMPTY_PATH): the descriptor's own entry.</summary>
    private static readonly byte* Empty = (byte*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(1);

    /// <summary>Opens a directory by path; the last component must not be a link (the parents are root's own).</summary>
    public static int OpenDirectory(string path)
    {
        var z = StorageCalls.Z(path);
        fixed (byte* p = z)
        {
            int fd = StorageCalls.openat(StorageCalls.AT_FDCWD, p, DirectoryFlags, 0);
            return fd >= 0 ? fd : throw new IOException($"open {path}: {Libc.ErrorText(Libc.LastError)}");
        }
    }

    private static int DirectoryFlags => StorageCalls.O_RDONLY | StorageCalls.O_DIRECTORY | StorageCalls.O_NOFOLLOW | StorageCalls.O_CLOEXEC;

    /// <summary>Copies everything under <paramref name="source"/> into the empty directory <paramref name="destination"/>.</summary>
    public static TreeCopyReport Copy(int source, int destination, int uid, CancellationToken cancellationToken)
    {
        var copy = new Copier(destination, uid, cancellationToken);
        try
        {
            copy.Directory(source, destination, 0);
        }
        catch (DestinationFullException)
        {
            copy.Incomplete = "the new filesystem is full (the content is larger than the quota)";
        }
        return new TreeCopyReport(copy.Files, copy.Directories, copy.Links, copy.Bytes, copy.Skipped, copy.Incomplete);
    }

    /// <summary>Deletes everything under <paramref name="directory"/>; false if something could not be (too deep).</summary>
    public static bool DeleteContents(int directory, int depth = 0)
    {
        bool complete = true;
        foreach (var name in Names(directory))
        {
            fixed (byte* n = name)
            {
                Statx st;
                if (StorageCalls.statx(directory, n, StorageCalls.AT_SYMLINK_NOFOLLOW, StorageCalls.STATX_BASIC_STATS, &st) != 0) continue;
                if (st.Type == StorageCalls.S_IFDIR)
                {
                    if (depth >= MaxDepth) { complete = false; continue; }
                    int child = StorageCalls.openat(directory, n, DirectoryFlags, 0);
                    if (child < 0) { complete = false; continue; }
                    try { complete &= DeleteContents(child, depth + 1); }
                    finally { Libc.close(child); }
                    complete &= StorageCalls.unlinkat(directory, n, StorageCalls.AT_REMOVEDIR) == 0;
                }
                else complete &= StorageCalls.unlinkat(directory, n, 0) == 0;
            }
        }
        return complete;
    }

    /// <summary>The entries of an open directory (not "." or ".."), as NUL-terminated byte strings.</summary>
    public static List<byte[]> Names(int directory)
    {
        var names = new List<byte[]>();
        var buffer = new byte[32 << 10];
        fixed (byte* b = buffer)
        {
            if (StorageCalls.lseek(directory, 0, StorageCalls.SEEK_SET) < 0) throw Error("rewind directory");
            while (true)
            {
                nint n = StorageCalls.getdents64(directory, b, buffer.Length);
                if (n < 0) throw Error("getdents64");
                if (n == 0) break;
                for (int offset = 0; offset < n;)
                {
                    // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
                    int length = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(offset + 16));
                    var name = buffer.AsSpan(offset + 19, length - 19);
                    name = name[..name.IndexOf((byte)0)];
                    if (!(name.SequenceEqual("."u8) || name.SequenceEqual(".."u8))) names.Add([.. name, 0]);
                    offset += length;
                }
            }
        }
        return names;
    }

    private static IOException Error(string what) => new($"{what}: {Libc.ErrorText(Libc.LastError)}");

    private sealed class DestinationFullException : Exception;

    private sealed class Copier(int destinationRoot, int uid, CancellationToken cancellationToken)
    {
        private readonly Dictionary<(uint, uint, ulong), byte[]> _linked = [];
        private readonly List<byte[]> _path = [];
        private readonly byte[] _chunk = new byte[ChunkBytes];

        public int Files, Directories, Links, Skipped;
        public long Bytes;
        public string? Incomplete;

        public void Directory(int source, int destination, int depth)
        {
            foreach (var name in Names(source))
            {
                cancellationToken.ThrowIfCancellationRequested();
                fixed (byte* n = name)
                {
                    Statx st;
                    if (StorageCalls.statx(source, n, StorageCalls.AT_SYMLINK_NOFOLLOW, StorageCalls.STATX_BASIC_STATS, &st) != 0) continue;
                    switch (st.Type)
                    {
                        case StorageCalls.S_IFDIR: Subdirectory(source, destination, n, name, depth); break;
                        case StorageCalls.S_IFREG: File(source, destination, n, name); break;
                        case StorageCalls.S_IFLNK: Symlink(source, destination, n); break;
                        default: Skipped++; break;
                    }
                }
            }
        }

        private void Subdirectory(int source, int destination, byte* n, byte[] name, int depth)
        {
            if (depth + 1 >= MaxDepth)
            {
                Incomplete ??= $"directories nested deeper than {MaxDepth} levels were not copied";
                return;
            }
            int from = StorageCalls.openat(source, n, DirectoryFlags, 0);
            if (from < 0) { Unreadable(); return; } // replaced by something else since it was listed: not a directory now
            try
            {
                Statx st;
                if (StorageCalls.statx(from, Empty, StorageCalls.AT_EMPTY_PATH, StorageCalls.STATX_BASIC_STATS, &st) != 0) { Unreadable(); return; }
                if (StorageCalls.mkdirat(destination, n, 0x1C0) != 0) Fail("mkdir");
                int to = StorageCalls.openat(destination, n, DirectoryFlags, 0);
                if (to < 0) Fail("open the new directory");
                try
                {
                    _path.Add(name);
                    try { Directory(from, to, depth + 1); }
                    finally { _path.RemoveAt(_path.Count - 1); }
                    // After the children: creating them changed the directory's times.
                    Finish(to, st);
                    Directories++;
                }
                finally { Libc.close(to); }
            }
            finally { Libc.close(from); }
        }

        private void File(int source, int destination, byte* n, byte[] name)
        {
            int from = StorageCalls.openat(source, n, StorageCalls.O_RDONLY | StorageCalls.O_NOFOLLOW | StorageCalls.O_NONBLOCK
                | StorageCalls.O_NOCTTY | StorageCalls.O_CLOEXEC, 0);
            if (from < 0) { Unreadable(); return; }
            try
            {
                Statx st;
                if (StorageCalls.statx(from, Empty, StorageCalls.AT_EMPTY_PATH, StorageCalls.STATX_BASIC_STATS, &st) != 0) { Unreadable(); return; }
                if (st.Type != StorageCalls.S_IFREG) { Skipped++; return; } // swapped for a FIFO or a device since it was listed
                var identity = (st.DevMajor, st.DevMinor, st.Ino);
                if (st.Nlink > 1 && _linked.TryGetValue(identity, out var first) && Link(first, destination, n))
                {
                    Links++;
                    return;
                }
                int to = StorageCalls.openat(destination, n, StorageCalls.O_WRONLY | StorageCalls.O_CREAT | StorageCalls.O_EXCL
                    | StorageCalls.O_NOFOLLOW | StorageCalls.O_CLOEXEC, 0x180);
                if (to < 0) Fail("create");
                try
                {
                    try { CopyData(from, to); }
                    catch (DestinationFullException)
                    {
                        StorageCalls.unlinkat(destination, n, 0);
                        throw;
                    }
                    Finish(to, st);
                }
                finally { Libc.close(to); }
                Files++;
                if (st.Nlink > 1) _linked[identity] = RelativePath(name);
            }
            finally { Libc.close(from); }
        }

        private bool Link(byte[] first, int destination, byte* n)
        {
            fixed (byte* f = first)
                return StorageCalls.linkat(destinationRoot, f, destination, n, 0) == 0;
        }

        private void Symlink(int source, int destination, byte* n)
        {
            var target = new byte[4097];
            fixed (byte* t = target)
            {
                nint length = StorageCalls.readlinkat(source, n, t, 4096);
                if (length <= 0 || length >= 4096) { Unreadable(); return; }
                target[length] = 0;
                if (StorageCalls.symlinkat(t, destination, n) != 0) Fail("symlink");
                StorageCalls.fchownat(destination, n, uid, uid, StorageCalls.AT_SYMLINK_NOFOLLOW);
                Links++;
            }
        }

        /// <summary>Copies the bytes; runs of zeros become holes again (the source's holes are read as zeros).</summary>
        private void CopyData(int from, int to)
        {
            fixed (byte* b = _chunk)
            {
                long copied = 0;
                while (true)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    nint n = StorageCalls.read(from, b, _chunk.Length);
                    if (n < 0 && Libc.LastError == StorageCalls.EINTR) continue;
                    if (n < 0) { Unreadable(); break; }
                    if (n == 0) break;
                    if (_chunk.AsSpan(0, (int)n).ContainsAnyExcept((byte)0)) WriteAll(to, b, n);
                    else if (StorageCalls.lseek(to, n, StorageCalls.SEEK_CUR) < 0) Fail("seek");
                    copied += n;
                }
                if (StorageCalls.ftruncate(to, copied) != 0) Fail("truncate");
                Bytes += copied;
            }
        }

        private static void WriteAll(int to, byte* b, nint count)
        {
            for (nint done = 0; done < count;)
            {
                nint w = StorageCalls.write(to, b + done, count - done);
                if (w < 0 && Libc.LastError == StorageCalls.EINTR) continue;
                if (w < 0) Fail("write");
                done += w;
            }
        }

        /// <summary>Mode (no setuid/setgid), times, then the owner: after the chown a non-owner could no longer set them.</summary>
        private void Finish(int fd, Statx st)
        {
            if (StorageCalls.fchmod(fd, (uint)(st.Mode & 0x3FF)) != 0) Fail("chmod");
            var times = stackalloc Timespec[2];
            times[0] = new Timespec { Seconds = st.AtimeSeconds, Nanoseconds = st.AtimeNanoseconds };
            times[1] = new Timespec { Seconds = st.MtimeSeconds, Nanoseconds = st.MtimeNanoseconds };
            StorageCalls.futimens(fd, times);
            if (StorageCalls.fchown(fd, uid, uid) != 0) Fail("chown");
        }

        /// <summary>The path of a new entry from the destination's root, NUL-terminated (for linkat).</summary>
        private byte[] RelativePath(byte[] name)
        {
            var joined = new List<byte>();
            foreach (var part in _path.Append(name))
            {
                if (joined.Count > 0) joined.Add((byte)'/');
                joined.AddRange(part.AsSpan(0, part.Length - 1));
            }
            joined.Add(0);
            return [.. joined];
        }

        private void Unreadable() => Incomplete ??= "some entries could not be read";

        private static void Fail(string what)
        {
            int errno = Libc.LastError;
            if (errno is StorageCalls.ENOSPC or StorageCalls.EDQUOT) throw new DestinationFullException();
            throw new IOException($"{what}: {Libc.ErrorText(errno)}");
        }
    }
}
