using System.Text;
using Warden.Core.Interop;

namespace Warden.Core.Sandboxing.Files;

internal sealed partial class SandboxTree
{
    /// <summary>
    /// Creates <paramref name="relativePath"/> (a name <see cref="WorkspacePaths.Validate"/> accepted) with
    /// <paramref name="content"/>, making the directories on its way, each owned by <paramref name="owner"/> when given.
    /// Directories are entered with the same beneath-only opens as a walk, and the file is created with O_EXCL, which
    /// never follows a link: a name already taken, or a directory on the way that is a file or a link, is an
    /// <see cref="IOException"/> and nothing outside the tree is touched.
    /// </summary>
    public unsafe void WriteFile(string relativePath, ReadOnlySpan<byte> content, int? owner)
    {
        var parts = relativePath.Split('/');
        if (parts.Any(p => p is "" or "." or ".." || p.Contains('\0'))) throw new IOException($"'{relativePath}' is not a relative path.");
        int dir = -1;
        try
        {
            foreach (var part in parts[..^1])
            {
                var name = Encoding.UTF8.GetBytes(part);
                int parent = dir < 0 ? _root : dir;
                bool made = MakeDirectory(parent, name);
                int next = OpenChecked(parent, name, Libc.O_RDONLY | Libc.O_DIRECTORY, Libc.S_IFDIR, out _, out var reason);
                if (next < 0) throw new IOException($"'{part}' on the way to '{relativePath}' is not a directory ({reason}).");
                if (dir >= 0) Libc.close(dir);
                dir = next;
                if (made && owner is int uid) Libc.fchown(dir, uid, uid);
            }
            int file = OpenEntry(dir < 0 ? _root : dir, Encoding.UTF8.GetBytes(parts[^1]),
                Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_NONBLOCK | Libc.O_NOCTTY, Convert.ToInt32("644", 8), out var errno);
            if (file < 0) throw new IOException($"create '{relativePath}': {Libc.ErrorText(errno)}");
            try
            {
                if (owner is int uid && Libc.fchown(file, uid, uid) != 0) throw new IOException($"chown '{relativePath}': {Libc.ErrorText(Libc.LastError)}");
                fixed (byte* p = content)
                {
                    for (int done = 0; done < content.Length;)
                    {
                        nint n = Libc.write(file, p + done, content.Length - done);
                        if (n < 0 && Libc.LastError == Libc.EINTR) continue;
                        if (n <= 0) throw new IOException($"write '{relativePath}': {Libc.ErrorText(Libc.LastError)}");
                        done += (int)n;
                    }
                }
            }
            finally
            {
                Libc.close(file);
            }
        }
        finally
        {
            if (dir >= 0) Libc.close(dir);
        }
    }

    /// <summary>mkdirat; true when it made the directory, false when the name was taken (by anything: the open decides).</summary>
    private static unsafe bool MakeDirectory(int parent, byte[] name)
    {
        fixed (byte* p = ZeroTerminated(name))
        {
            if (Libc.mkdirat(parent, p, Convert.ToInt32("755", 8)) == 0) return true;
            int errno = Libc.LastError;
            return errno == Libc.EEXIST ? false : throw new IOException($"mkdir '{Encoding.UTF8.GetString(name)}': {Libc.ErrorText(errno)}");
        }
    }

    private static byte[] ZeroTerminated(ReadOnlySpan<byte> name)
    {
        var z = new byte[name.Length + 1];
        name.CopyTo(z);
        return z;
    }
}
