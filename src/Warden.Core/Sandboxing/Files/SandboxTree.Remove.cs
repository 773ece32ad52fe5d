using System.Globalization;
using System.Text;
using Warden.Core.Interop;

namespace Warden.Core.Sandboxing.Files;

internal sealed partial class SandboxTree
{
    /// <summary>Below this depth a directory is moved up to the root and emptied from there, so no tree is too deep to remove.</summary>
    private const int HoistDepth = 16;

    /// <summary>
    /// Removes everything below the root (the root stays), for a workspace that is a plain directory rather than its own
    /// tmpfs. Links are removed, never followed; every directory is entered beneath-only like a walk. A tree of any
    /// depth goes: a path-based removal fails past PATH_MAX (and .NET's recursion with it), which would keep the slot
    /// out of circulation, so directories deeper than <see cref="HoistDepth"/> are renamed to the root first.
    /// </summary>
    public void DeleteContents()
    {
        var hoisted = new Stack<byte[]>();
        int root = OpenEntry(_root, "."u8, Libc.O_RDONLY | Libc.O_DIRECTORY, 0, out var errno);
        if (root < 0) throw new IOException($"open workspace: {Libc.ErrorText(errno)}");
        try { Empty(root, 0, hoisted); }
        finally { Libc.close(root); }
        // Emptying the root already met most hoisted directories (they were renamed into it): what is left is gone quickly.
        while (hoisted.TryPop(out var name))
        {
            int dir = OpenChecked(_root, name, Libc.O_RDONLY | Libc.O_DIRECTORY, Libc.S_IFDIR, out _, out _);
            if (dir < 0) continue;
            try { Empty(dir, 0, hoisted); }
            finally { Libc.close(dir); }
            Unlink(_root, name, Libc.AT_REMOVEDIR);
        }
    }

    private void Empty(int dirFd, int depth, Stack<byte[]> hoisted)
    {
        while (true)
        {
            // Removing while reading a directory may skip entries: read a batch, remove it, start over.
            Libc.lseek(dirFd, 0, 0);
            int budget = 4096;
            var batch = ReadEntries(dirFd, ref budget);
            if (batch.Count == 0) return;
            int progress = 0;
            foreach (var (name, direntType) in batch)
            {
                int type = TypeOf(direntType);
                if (type == 0) type = TypeByName(dirFd, name);
                if (type != Libc.S_IFDIR)
                {
                    if (Unlink(dirFd, name, 0)) progress++;
                    continue;
                }
                if (Unlink(dirFd, name, Libc.AT_REMOVEDIR)) // already empty
                {
                    progress++;
                    continue;
                }
                if (depth + 1 >= HoistDepth)
                {
                    if (Hoist(dirFd, name, hoisted)) progress++;
                    continue;
                }
                int child = OpenChecked(dirFd, name, Libc.O_RDONLY | Libc.O_DIRECTORY, Libc.S_IFDIR, out _, out _);
                if (child >= 0)
                {
                    try { Empty(child, depth + 1, hoisted); }
                    finally { Libc.close(child); }
                }
                if (Unlink(dirFd, name, Libc.AT_REMOVEDIR)) progress++;
            }
            if (progress == 0) throw new IOException("Some entries of the workspace cannot be removed (a mount point, or no permission).");
        }
    }

    /// <summary>Moves a deep directory to the root under a fresh name, to be emptied from there.</summary>
    private unsafe bool Hoist(int dirFd, byte[] name, Stack<byte[]> hoisted)
    {
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            var target = Encoding.ASCII.GetBytes(".warden-removing-" + hoisted.Count.ToString(CultureInfo.InvariantCulture) + "-" +
                attempt.ToString(CultureInfo.InvariantCulture));
            fixed (byte* from = ZeroTerminated(name))
            fixed (byte* to = ZeroTerminated(target))
            {
                if (Libc.renameat2(dirFd, from, _root, to, Libc.RENAME_NOREPLACE) == 0)
                {
                    hoisted.Push(target);
                    return true;
                }
                if (Libc.LastError != Libc.EEXIST) return false;
            }
        }
        return false;
    }

    private static unsafe bool Unlink(int dirFd, byte[] name, int flags)
    {
        fixed (byte* p = ZeroTerminated(name)) return Libc.unlinkat(dirFd, p, flags) == 0;
    }
}
