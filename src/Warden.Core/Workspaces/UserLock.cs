using Warden.Core.Interop;

namespace Warden.Core.Workspaces;

/// <summary>
/// An exclusive flock on a user's lock file, so two processes sharing a state directory never build, repair or mount the
/// same user's home at once (the kernel drops the lock if the holder dies). Waits, bounded, without blocking a thread.
/// The file is opened with open(2), not a FileStream, whose own share-mode locks would get in the way.
/// </summary>
internal sealed class UserLock : IDisposable
{
    private int _fd;

    private UserLock(int fd) => _fd = fd;

    public static async Task<UserLock> AcquireAsync(string path, CancellationToken cancellationToken)
    {
        int fd = Open(path);
        if (fd < 0) throw new IOException($"open {path}: {Libc.ErrorText(Libc.LastError)}");
        var handle = new UserLock(fd);
        try
        {
            var deadline = DateTime.UtcNow.AddMinutes(2);
            while (Libc.flock(fd, Libc.LOCK_EX | Libc.LOCK_NB) != 0)
            {
                if (DateTime.UtcNow > deadline) throw new IOException($"{path} stayed locked by another process for 2 minutes.");
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>The lock if nobody holds it now, else null (someone is working on that user's home).</summary>
    public static UserLock? TryAcquire(string path)
    {
        int fd = Open(path);
        if (fd < 0) return null;
        if (Libc.flock(fd, Libc.LOCK_EX | Libc.LOCK_NB) == 0) return new UserLock(fd);
        Libc.close(fd);
        return null;
    }

    private static unsafe int Open(string path)
    {
        fixed (byte* p = StorageCalls.Z(path))
            return StorageCalls.openat(StorageCalls.AT_FDCWD, p, StorageCalls.O_RDWR | StorageCalls.O_CREAT | StorageCalls.O_NOFOLLOW | StorageCalls.O_CLOEXEC, 0x180);
    }

    /// <summary>Closing the descriptor releases the lock.</summary>
    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) Libc.close(fd);
    }
}
