namespace Warden.Core.Sandboxing.Slots;

/// <summary>
/// Exclusive use of one host uid for sandboxes, across every Warden process on the host: an flock on a file per uid.
/// The kernel drops the lock when the process dies, so a crashed instance never strands its uids.
/// </summary>
internal sealed class UidLease : IDisposable
{
    private readonly FileStream _lock;

    private UidLease(int uid, FileStream @lock)
    {
        Uid = uid;
        _lock = @lock;
    }

    public int Uid { get; }

    public static UidLease Acquire(string lockDirectory, int first, int count)
    {
        Directory.CreateDirectory(lockDirectory);
        for (int uid = first; uid < first + count; uid++)
        {
            try { return new UidLease(uid, OpenLock(lockDirectory, uid)); }
            catch (IOException) { }
        }
        throw new InvalidOperationException($"No free sandbox uid in {first}..{first + count - 1} (Warden:SandboxUidBase/SandboxUidCount).");
    }

    /// <summary>Exclusive use of one given uid (a user's own); fails when another sandbox, here or in another instance, holds it.</summary>
    public static UidLease AcquireExact(string lockDirectory, int uid)
    {
        Directory.CreateDirectory(lockDirectory);
        try { return new UidLease(uid, OpenLock(lockDirectory, uid)); }
        catch (IOException e)
        {
            throw new InvalidOperationException($"Sandbox uid {uid} is already in use (another Warden instance on the same state directory?).", e);
        }
    }

    // FileShare.None makes .NET take flock(LOCK_EX|LOCK_NB) and throw when another process holds it. Owner-only, like
    // every state file.
    private static FileStream OpenLock(string lockDirectory, int uid) => new(Path.Combine(lockDirectory, $"{uid}.lock"), new FileStreamOptions
    {
        Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None,
        UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
    });

    public void Dispose() => _lock.Dispose();
}
