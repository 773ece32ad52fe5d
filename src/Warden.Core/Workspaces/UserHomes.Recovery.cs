using Microsoft.Extensions.Logging;
using Warden.Core.Interop;
using Warden.Core.Sandboxing.Slots;

namespace Warden.Core.Workspaces;

/// <summary>Start-up recovery: what an instance that died (kill -9, power loss) left mounted or bound.</summary>
public sealed partial class UserHomes
{
    /// <summary>
    /// Unmounts homes (and unfinished builds) that no live instance holds, lets their loop devices unbind (detaching any
    /// that stay bound with nothing using them), and removes unfinished images. A home held by a live instance sharing
    /// this state directory, or a user whose lock a live process holds (a build in progress), is left alone. The user's
    /// files are in the image and come back on their next request; an unclean unmount is repaired by e2fsck then.
    /// </summary>
    public async Task RecoverAsync(CancellationToken cancellationToken)
    {
        if (Storage is null) Log.Unavailable(_logger, Warning!);
        else if (Warning is { } warning) Log.Fallback(_logger, warning);
        if (Libc.geteuid() != 0 || !Directory.Exists(_root)) return;
        var prefix = _root + "/";
        var mounts = MountTable.Under(_root).GroupBy(m => UserDirectoryOf(m.MountPoint)).ToDictionary(g => g.Key, g => g.ToList());
        var devices = LoopDevice.Bound().Where(d => d.BackingFile.StartsWith(prefix, StringComparison.Ordinal))
            .GroupBy(d => UserDirectoryOf(d.BackingFile)).ToDictionary(g => g.Key, g => g.Select(d => d.Number).ToList());
        int unmounted = 0, detached = 0;
        foreach (var userDir in mounts.Keys.Union(devices.Keys).Union(Directory.EnumerateDirectories(_root).Where(HasLeftovers)))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (OwnerAlive(userDir)) continue;
            using var userLock = UserLock.TryAcquire(Path.Combine(userDir, "home.lock"));
            if (userLock is null) continue; // a live process is building or mounting this home right now
            foreach (var mount in mounts.GetValueOrDefault(userDir) ?? [])
            {
                Unmount(mount.MountPoint);
                unmounted++;
            }
            RemoveBuildLeftovers(userDir);
            try { File.Delete(Path.Combine(userDir, OwnerName)); } catch (IOException) { }
            foreach (var number in devices.GetValueOrDefault(userDir) ?? [])
            {
                // The unmount above lets an autoclear device go by itself; one still bound then has no user left but the
                // binding (a crash between binding and mounting): unbind it. EBUSY: mounted in another mount namespace.
                if (await LoopDevice.WaitUnboundAsync(number, TimeSpan.FromSeconds(2)).ConfigureAwait(false)) detached++;
                else if (LoopDevice.TryDetach(number)) detached++;
                else Log.LoopStillInUse(_logger, LoopDevice.DevicePathOf(number), userDir);
            }
        }
        if (unmounted + detached > 0) Log.Recovered(_logger, unmounted, detached);
    }

    private string UserDirectoryOf(string path) => Path.Combine(_root, Path.GetRelativePath(_root, path).Split('/')[0]);

    private static bool HasLeftovers(string userDir) =>
        File.Exists(Path.Combine(userDir, OwnerName)) || File.Exists(Path.Combine(userDir, ImageName + ".new"))
        || Directory.Exists(Path.Combine(userDir, "build")) || Directory.Exists(Path.Combine(userDir, "rebuild"));

    /// <summary>Whether the instance that mounted this user's home still runs (this one included).</summary>
    private bool OwnerAlive(string userDir)
    {
        string owner;
        try { owner = File.ReadAllText(Path.Combine(userDir, OwnerName)).Trim(); }
        catch (IOException) { return false; }
        return owner == _instance || WardenInstance.IsAlive(owner);
    }
}
