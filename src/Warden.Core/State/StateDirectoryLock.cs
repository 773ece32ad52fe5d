using System.Globalization;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Warden.Core.Interop;

namespace Warden.Core.State;

/// <summary>
/// One Warden process per state directory: an exclusive <c>flock</c> on <c>{StateDirectory}/warden.lock</c>, held for the
/// process's life. Two servers on one state directory would hand the same users' uids and homes to two sandboxes and
/// fail each other's requests (<c>Sandbox uid 400000 is already in use</c>); the second one now refuses to start and
/// names the first. The kernel drops the lock when its process dies, however it dies.
/// </summary>
/// <remarks>
/// Within one process the lock is shared: a server hosts several users of it (the HTTP host, the backend's slots), and
/// test processes run many engines and servers side by side on the default state directory. Each acquisition takes a
/// lease; the file is unlocked when the process's last lease on it is disposed.
/// </remarks>
public static class StateDirectoryLock
{
    public const string FileName = "warden.lock";

    private static readonly Dictionary<string, Holder> Held = new(StringComparer.Ordinal);
    private static readonly Lock Gate = new();

    /// <summary>Prepares the state directory (<see cref="StateDirectory.Prepare"/>) and takes a lease on its lock.</summary>
    /// <exception cref="StateDirectoryInUseException">Another process holds it.</exception>
    public static StateDirectoryLease Acquire(string stateDirectory)
    {
        var changes = new List<ModeChange>();
        var real = StateDirectory.Prepare(stateDirectory, changes);
        lock (Gate)
        {
            if (Held.TryGetValue(real, out var holder))
            {
                holder.Leases++;
                return new StateDirectoryLease(real, changes);
            }
            var path = Path.Combine(real, FileName);
            var handle = PrivateFile.Open(path);
            try
            {
                if (Libc.flock((int)handle.DangerousGetHandle(), Libc.LOCK_EX | Libc.LOCK_NB) != 0)
                    throw new StateDirectoryInUseException(real, ReadHolder(handle));
                // For the message another process shows when it finds the directory taken.
                var pid = Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
                RandomAccess.SetLength(handle, 0);
                RandomAccess.Write(handle, pid, 0);
            }
            catch
            {
                handle.Dispose();
                throw;
            }
            Held[real] = new Holder(handle);
            return new StateDirectoryLease(real, changes);
        }
    }

    /// <summary>True when this process holds the lock of <paramref name="realPath"/> (tests).</summary>
    public static bool IsHeld(string realPath)
    {
        lock (Gate) return Held.ContainsKey(realPath);
    }

    internal static void Release(string real)
    {
        lock (Gate)
        {
            if (!Held.TryGetValue(real, out var holder) || --holder.Leases > 0) return;
            Held.Remove(real);
            // Closing the last descriptor of the open file drops the flock.
            holder.Handle.Dispose();
        }
    }

    private static int? ReadHolder(SafeFileHandle handle)
    {
        var buffer = new byte[32];
        int n = RandomAccess.Read(handle, buffer, 0);
        return int.TryParse(Encoding.ASCII.GetString(buffer, 0, n).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) ? pid : null;
    }

    private sealed class Holder(SafeFileHandle handle)
    {
        public SafeFileHandle Handle { get; } = handle;
        public int Leases { get; set; } = 1;
    }
}

/// <summary>This process's use of a state directory; dispose it once (more is harmless).</summary>
public sealed class StateDirectoryLease : IDisposable
{
    private int _disposed;

    internal StateDirectoryLease(string path, IReadOnlyList<ModeChange> changes)
    {
        Path = path;
        ModeChanges = changes;
    }

    /// <summary>The state directory's real path.</summary>
    public string Path { get; }

    /// <summary>The state directory's mode, when this acquisition changed it (for the holder's log).</summary>
    public IReadOnlyList<ModeChange> ModeChanges { get; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) StateDirectoryLock.Release(Path);
    }
}

/// <summary>Another Warden process holds the state directory.</summary>
public sealed class StateDirectoryInUseException(string directory, int? holderPid) : InvalidOperationException(
    $"The state directory {directory} is in use by another Warden process{(holderPid is { } pid ? $" (pid {pid})" : "")}: two instances on one " +
    "state directory would share sandbox uids, users' homes and the database. Stop that one, or give this one a state directory " +
    "of its own (Warden:StateDirectory, WARDEN_STATE_DIR).")
{
    public string Directory { get; } = directory;

    public int? HolderPid { get; } = holderPid;
}
