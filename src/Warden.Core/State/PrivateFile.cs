using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Warden.Core.Interop;

namespace Warden.Core.State;

/// <summary>
/// Files only the service may read or write — the database (key hashes, users, client addresses), the audit log, the
/// state directory's lock: mode 0600 whatever the umask, and made 0600 again when an older version (or another tool)
/// left one readable.
/// </summary>
public static class PrivateFile
{
    /// <summary>rw for the owner, nothing for anybody else.</summary>
    public static int Mode { get; } = Convert.ToInt32("600", 8);

    /// <summary>
    /// Opens <paramref name="path"/> read-write, creating it 0600 when missing; refuses a symbolic link or anything
    /// but a regular file, and sets an existing file's mode to 0600 when it belongs to the service.
    /// </summary>
    public static SafeFileHandle Open(string path)
    {
        var handle = FileStatus.Open(path, Libc.O_RDWR | FileStatus.O_CREAT, Mode);
        try
        {
            Restrict(handle, path);
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Creates <paramref name="path"/> (0600) if missing and leaves it closed; an existing one is made 0600.</summary>
    public static void Create(string path)
    {
        using var handle = Open(path);
    }

    /// <summary>Makes an open file 0600 when it is the service's own (someone else's file keeps its mode).</summary>
    public static void Restrict(SafeHandle handle, string path)
    {
        var status = FileStatus.OfHandle(handle, path);
        if (!status.IsRegularFile) throw new IOException($"{path} is not a regular file");
        if (status.Uid == Libc.geteuid() && status.Permissions != Mode) FileStatus.SetMode(handle, Mode, path);
    }

    /// <summary>Makes <paramref name="path"/> 0600 if it exists (never following a link); nothing when it does not.</summary>
    public static void RestrictIfPresent(string path)
    {
        if (FileStatus.OfPath(path) is not { IsRegularFile: true }) return;
        try
        {
            // Non-blocking: should a FIFO have replaced the file meanwhile, opening it must not wait for a writer.
            using var handle = FileStatus.Open(path, Libc.O_RDONLY | FileStatus.O_NONBLOCK);
            Restrict(handle, path);
        }
        catch (IOException) when (FileStatus.OfPath(path) is null)
        {
            // Removed meanwhile (SQLite deletes its -wal and -shm files when the last connection closes): nothing to restrict.
        }
    }
}
