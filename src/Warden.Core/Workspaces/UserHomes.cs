using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Interop;
using Warden.Core.Sandboxing.Slots;
using Warden.Core.Terminals;

namespace Warden.Core.Workspaces;

/// <summary>
/// Users' homes as filesystems the kernel bounds while commands run: an ext4 image per user (<c>{user dir}/home.img</c>,
/// sized to <see cref="TerminalOptions.MaxMegabytesPerUser"/>, with as many inodes as <see cref="TerminalOptions.MaxFilesPerUser"/>)
/// loop-mounted nodev,nosuid at the user's home path while their sandbox lives, or a size-capped tmpfs there (see
/// <see cref="HomeStorage"/>). A write past the quota fails with ENOSPC at once, inside the sandbox, whatever writes it.
/// A home is mounted when its user's sandbox starts (<see cref="AcquireAsync"/>) and unmounted when the last holder lets
/// go; start-up recovery (<see cref="RecoverAsync"/>) removes what a crashed instance left mounted or bound.
/// </summary>
public sealed partial class UserHomes : IAsyncDisposable
{
    internal const string ImageName = "home.img";
    internal const string OwnerName = "mounted-by";
    private const ulong MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_RDONLY = 1;

    private readonly TerminalOptions _options;
    private readonly ILogger _logger;
    private readonly string _root;
    private readonly string _instance = WardenInstance.NewName();
    private readonly ConcurrentDictionary<string, Holder> _holders = new(StringComparer.Ordinal);
    private readonly Lazy<Resolution> _resolution;
    private int _disposed;

    private readonly IHomeFence _fence;

    public UserHomes(IOptions<WardenOptions> warden, IOptions<TerminalOptions> options, ILogger<UserHomes> logger, IHomeFence? fence = null)
    {
        ArgumentNullException.ThrowIfNull(warden);
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _logger = logger;
        _fence = fence ?? LocalHomeFence.Instance;
        _root = UserWorkspaces.RootOf(warden.Value, _options);
        _resolution = new Lazy<Resolution>(Resolve);
    }

    /// <summary>What homes are here: <see cref="HomeStorage.Image"/> or <see cref="HomeStorage.Tmpfs"/>; null when neither can work.</summary>
    public HomeStorage? Storage => _resolution.Value.Storage;

    /// <summary>Why homes are not what was asked for (a tmpfs fallback) or cannot be made at all; null when all is well.</summary>
    public string? Warning => _resolution.Value.Warning;

    /// <summary>Homes mounted by this instance now.</summary>
    public int MountedCount => _holders.Values.Count(h => h.Count > 0);

    private int MegabytesOf(UserWorkspace workspace) => workspace.HomeMegabytes ?? _options.MaxMegabytesPerUser;

    private long QuotaBytesOf(UserWorkspace workspace) => (long)MegabytesOf(workspace) << 20;

    /// <summary>
    /// Mounts the user's home (if this instance has not already) and holds it mounted until the returned lease is
    /// disposed. Afterwards <see cref="UserWorkspace.HostHome"/> is the bounded filesystem, owned by the user, mode 0700.
    /// </summary>
    /// <exception cref="HomeStorageException">Homes cannot be made on this host, or this one could not be mounted.</exception>
    public async Task<HomeLease> AcquireAsync(UserWorkspace workspace, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workspace);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var storage = Storage ?? throw new HomeStorageException(Warning!);
        var holder = _holders.GetOrAdd(workspace.HomeKey, _ => new Holder());
        await holder.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (holder.Count == 0 || !IsMounted(workspace, storage))
            {
                using var userLock = await UserLock.AcquireAsync(Path.Combine(UserDirectory(workspace), "home.lock"), cancellationToken).ConfigureAwait(false);
                // The fence before the mount: where homes are shared by replicas, only the lease's holder may mount it, so
                // two replicas never write one image at once (a live holder's lease is never taken; a dead one's expires).
                if (holder.Count == 0) holder.Generation = await EnterFenceAsync(workspace, cancellationToken).ConfigureAwait(false);
                bool mounted = false;
                try
                {
                    if (storage == HomeStorage.Image) await MountImageAsync(workspace, cancellationToken).ConfigureAwait(false);
                    else MountTmpfs(workspace);
                    mounted = true;
                    // Names this instance as the mount's owner, for start-up recovery after a crash (see RecoverAsync).
                    File.WriteAllText(Path.Combine(UserDirectory(workspace), OwnerName), _instance);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
                {
                    if (mounted && holder.Count == 0) Unmount(workspace.HostHome);
                    if (holder.Count == 0) await _fence.ExitAsync(workspace.HomeKey, holder.Generation, CancellationToken.None).ConfigureAwait(false);
                    Log.MountFailed(_logger, workspace.HomeKey, e);
                    throw new HomeStorageException($"The user's home could not be mounted: {e.Message}", e);
                }
                if (holder.Count == 0) Log.Mounted(_logger, workspace.HomeKey, storage.ToString().ToLowerInvariant());
            }
            holder.Count++;
            return new HomeLease(this, workspace);
        }
        finally
        {
            holder.Gate.Release();
        }
    }

    /// <summary>Drops one hold on the home; the last one unmounts it (an image's loop device then unbinds itself).</summary>
    internal async Task ReleaseAsync(UserWorkspace workspace)
    {
        if (!_holders.TryGetValue(workspace.HomeKey, out var holder)) return;
        await holder.Gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (holder.Count == 0 || --holder.Count > 0) return;
            Unmount(workspace.HostHome);
            try { File.Delete(Path.Combine(UserDirectory(workspace), OwnerName)); } catch (IOException) { }
            // After the unmount: another replica may mount the image as soon as the lease is gone.
            await _fence.ExitAsync(workspace.HomeKey, holder.Generation, CancellationToken.None).ConfigureAwait(false);
            Log.Unmounted(_logger, workspace.HomeKey);
        }
        finally
        {
            holder.Gate.Release();
        }
    }

    private async Task<long> EnterFenceAsync(UserWorkspace workspace, CancellationToken cancellationToken)
    {
        try
        {
            return await _fence.EnterAsync(workspace.HomeKey, cancellationToken).ConfigureAwait(false);
        }
        catch (HomeFencedException e)
        {
            throw new HomeStorageException(e.Message, e);
        }
    }

    private static string UserDirectory(UserWorkspace workspace) => Path.GetDirectoryName(workspace.HostHome)!;

    /// <summary>Whether the home is mounted now, and with what this instance mounts there (so a stray mount is not trusted).</summary>
    private static bool IsMounted(UserWorkspace workspace, HomeStorage storage) => MountTable.At(workspace.HostHome) is { } mount
        && (storage == HomeStorage.Tmpfs ? mount.FsType == "tmpfs" : mount.FsType == "ext4" && IsImageDevice(mount.Source, workspace));

    private static bool IsImageDevice(string source, UserWorkspace workspace) =>
        source.StartsWith("/dev/loop", StringComparison.Ordinal)
        && int.TryParse(source.AsSpan("/dev/loop".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var number)
        && LoopDevice.BoundTo(Path.Combine(UserDirectory(workspace), ImageName)).Contains(number);

    private void MountTmpfs(UserWorkspace workspace)
    {
        if (MountTable.At(workspace.HostHome) is not null) Unmount(workspace.HostHome); // an image's mount from an earlier configuration
        PrepareMountPoint(workspace.HostHome);
        // nr_inodes counts the root directory too; 0 would mean "no limit" to tmpfs, so an unlimited file count is left out.
        var files = _options.MaxFilesPerUser > 0 ? $",nr_inodes={(_options.MaxFilesPerUser + 1).ToString(CultureInfo.InvariantCulture)}" : "";
        var (owner, group, mode) = workspace.HomeRoot;
        var data = $"size={QuotaBytesOf(workspace).ToString(CultureInfo.InvariantCulture)}{files},mode={Convert.ToString(mode, 8)},uid={owner.ToString(CultureInfo.InvariantCulture)}," +
            $"gid={group.ToString(CultureInfo.InvariantCulture)}";
        Mount("tmpfs", workspace.HostHome, "tmpfs", MS_NOSUID | MS_NODEV, data);
    }

    /// <summary>
    /// The home's mount point when nothing is mounted on it: an empty directory only root can enter, so a sandbox started
    /// on it by mistake finds nothing and cannot write to the state directory's own filesystem. An existing directory is
    /// left as it is: it may be an older version's plain home, whose content the image takes over (see MigrateAsync).
    /// </summary>
    private static void PrepareMountPoint(string path)
    {
        if (Directory.Exists(path)) return;
        Directory.CreateDirectory(path);
        Libc.chown(path, 0, 0);
        Libc.chmod(path, Convert.ToInt32("700", 8));
    }

    private static void Mount(string source, string target, string type, ulong flags, string? data)
    {
        if (Libc.mount(source, target, type, flags, data) != 0)
            throw new IOException($"mount {type} {source} on {target}: {Libc.ErrorText(Libc.LastError)}");
    }

    /// <summary>Unmounts; a mount still busy (something on the host holds a file open in it) is detached instead, and goes
    /// (with its loop device) when that lets go.</summary>
    private void Unmount(string target)
    {
        if (Libc.umount2(target, 0) == 0) return;
        int errno = Libc.LastError;
        if (errno != StorageCalls.EBUSY) return; // EINVAL: not mounted
        Log.UnmountBusy(_logger, target);
        Libc.umount2(target, Libc.MNT_DETACH);
    }

    /// <summary>Facts for health: what homes are and how many are mounted.</summary>
    public IReadOnlyDictionary<string, string> Describe()
    {
        var facts = new Dictionary<string, string>
        {
            ["home_storage"] = Storage?.ToString().ToLowerInvariant() ?? "unavailable",
            ["homes_mounted"] = MountedCount.ToString(CultureInfo.InvariantCulture),
        };
        if (Warning is { } warning) facts["home_storage_warning"] = warning;
        return facts;
    }

    /// <summary>Unmounts every home this instance still holds (their sandboxes are gone by now).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        foreach (var (key, holder) in _holders)
        {
            await holder.Gate.WaitAsync().ConfigureAwait(false);
            try
            {
                if (holder.Count == 0) continue;
                holder.Count = 0;
                var userDir = Path.Combine(_root, key);
                Unmount(Path.Combine(userDir, "home"));
                try { File.Delete(Path.Combine(userDir, OwnerName)); } catch (IOException) { }
                try { await _fence.ExitAsync(key, holder.Generation, CancellationToken.None).ConfigureAwait(false); }
                catch (Exception e) when (e is IOException or TimeoutException or InvalidOperationException or System.Data.Common.DbException)
                {
                    // The lease ends with this replica's heartbeats anyway.
                }
            }
            finally
            {
                holder.Gate.Release();
            }
        }
    }

    private sealed class Holder
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);
        public int Count { get; set; }

        /// <summary>The fence's generation this instance mounted under (see <see cref="IHomeFence"/>).</summary>
        public long Generation { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.HomeMounted, LogLevel.Debug, "Home of user {UserKey} mounted ({Storage})")]
        public static partial void Mounted(ILogger logger, string userKey, string storage);

        [LoggerMessage(Diagnostics.EventIds.HomeUnmounted, LogLevel.Debug, "Home of user {UserKey} unmounted")]
        public static partial void Unmounted(ILogger logger, string userKey);

        [LoggerMessage(Diagnostics.EventIds.HomeMountFailed, LogLevel.Error, "Home of user {UserKey} could not be mounted")]
        public static partial void MountFailed(ILogger logger, string userKey, Exception exception);

        [LoggerMessage(Diagnostics.EventIds.HomeUnmountBusy, LogLevel.Warning, "Home mount {MountPoint} is busy; detached instead (it goes when its last user does)")]
        public static partial void UnmountBusy(ILogger logger, string mountPoint);

        [LoggerMessage(Diagnostics.EventIds.HomeStorageUnavailable, LogLevel.Error, "Open Terminal: {Reason}")]
        public static partial void Unavailable(ILogger logger, string reason);

        [LoggerMessage(Diagnostics.EventIds.HomeStorageFallback, LogLevel.Warning, "Open Terminal: {Reason}")]
        public static partial void Fallback(ILogger logger, string reason);

        [LoggerMessage(Diagnostics.EventIds.HomesRecovered, LogLevel.Warning, "Recovered users' homes left by crashed instances: {Mounts} mounts removed, {Devices} loop devices freed")]
        public static partial void Recovered(ILogger logger, int mounts, int devices);

        [LoggerMessage(Diagnostics.EventIds.HomeLoopInUse, LogLevel.Warning, "{Device} (an image in {UserDirectory}) stays bound: a mount in another mount namespace still uses it")]
        public static partial void LoopStillInUse(ILogger logger, string device, string userDirectory);

        [LoggerMessage(Diagnostics.EventIds.HomeImageInUse, LogLevel.Warning, "Home of user {UserKey} is still in use through {Device} (a mount in another mount namespace); mounting that device again")]
        public static partial void ImageInUse(ILogger logger, string userKey, string device);

        [LoggerMessage(Diagnostics.EventIds.HomeMigrated, LogLevel.Information,
            "Home of user {UserKey} moved into its image: {Files} files, {Directories} directories, {Links} links, {Bytes} bytes; {Skipped} FIFOs, sockets or devices left out")]
        public static partial void Migrated(ILogger logger, string userKey, int files, int directories, int links, long bytes, int skipped);

        [LoggerMessage(Diagnostics.EventIds.HomeMigrationIncomplete, LogLevel.Warning, "Home of user {UserKey} did not fully fit into its image ({Reason}); the old home is kept, root-only, at {Aside}")]
        public static partial void MigrationIncomplete(ILogger logger, string userKey, string reason, string aside);

        [LoggerMessage(Diagnostics.EventIds.HomeRebuilt, LogLevel.Information, "Home of user {UserKey} rebuilt for the new quota: {OldMegabytes} MB -> {Megabytes} MB, {Files} files")]
        public static partial void Rebuilt(ILogger logger, string userKey, long oldMegabytes, int megabytes, int files);

        [LoggerMessage(Diagnostics.EventIds.HomeRebuildRefused, LogLevel.Warning,
            "Home of user {UserKey} keeps its {OldMegabytes} MB: the new quota ({Megabytes} MB, {Files} files) is too small for it ({Reason})")]
        public static partial void RebuildRefused(ILogger logger, string userKey, long oldMegabytes, int megabytes, int files, string reason);

        [LoggerMessage(Diagnostics.EventIds.HomeChecked, LogLevel.Warning, "Home of user {UserKey} was not unmounted cleanly; e2fsck exited {ExitCode}: {Output}")]
        public static partial void Checked(ILogger logger, string userKey, int exitCode, string output);

        [LoggerMessage(Diagnostics.EventIds.HomeSmokeTestFailed, LogLevel.Error, "The terminal home smoke test failed")]
        public static partial void SmokeTestFailed(ILogger logger, Exception exception);
    }
}

/// <summary>A hold on a user's mounted home; disposing it lets the home be unmounted.</summary>
public sealed class HomeLease : IAsyncDisposable
{
    private readonly UserHomes _homes;
    private readonly UserWorkspace _workspace;
    private int _released;

    internal HomeLease(UserHomes homes, UserWorkspace workspace)
    {
        _homes = homes;
        _workspace = workspace;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) await _homes.ReleaseAsync(_workspace).ConfigureAwait(false);
    }
}

/// <summary>A user's home cannot be provided: the host cannot make bounded homes, or mounting this one failed.</summary>
public sealed class HomeStorageException : Exception
{
    public HomeStorageException(string message) : base(message) { }

    public HomeStorageException(string message, Exception inner) : base(message, inner) { }
}
