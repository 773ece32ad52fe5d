using System.Globalization;
using Microsoft.Extensions.Logging;
using Warden.Core.Interop;

namespace Warden.Core.Workspaces;

/// <summary>
/// Image homes: made (mke2fs) on first use, migrated from an older version's plain home directory, rebuilt when the
/// quota changes, checked (e2fsck) after an unclean stop, and loop-mounted. Everything here runs under the user's lock
/// and on images no sandbox can reach: the image file is root's (0600, in a directory only root can list), and a new or
/// rebuilt image is filled through a private mount point only root can enter before it is renamed into place.
/// </summary>
public sealed partial class UserHomes
{
    /// <summary>Inodes 1..10 are ext4's own (the root directory is inode 2); lost+found, the first free one, is removed.</summary>
    private const int ReservedInodes = 10;
    private static readonly TimeSpan FormatTimeout = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan CheckTimeout = TimeSpan.FromMinutes(10);

    /// <summary>Records in the image's label the file quota it was made for (the size is the image's own).</summary>
    private string Label => LabelFor(_options.MaxFilesPerUser);

    private static string LabelFor(int files) => "wf" + files.ToString(CultureInfo.InvariantCulture);

    private static string ImagePath(UserWorkspace workspace) => Path.Combine(UserDirectory(workspace), ImageName);

    private async Task MountImageAsync(UserWorkspace workspace, CancellationToken cancellationToken)
    {
        var home = workspace.HostHome;
        var image = ImagePath(workspace);
        if (MountTable.At(home) is { } mounted)
        {
            // Already the user's image (mounted by another instance sharing this state directory): use it as it is.
            if (mounted.FsType == "ext4" && IsImageDevice(mounted.Source, workspace)) return;
            // Something else (a tmpfs home of an earlier configuration, a stray mount): not the user's image.
            Unmount(home);
        }
        if (await BoundAfterRundownAsync(image).ConfigureAwait(false) is int device)
        {
            // Still used by a mount in some other mount namespace: mounting the same device shares its one superblock (a
            // second loop device on the image would be a second, corrupting, writer). No check or rebuild while in use.
            Log.ImageInUse(_logger, workspace.HomeKey, LoopDevice.DevicePathOf(device));
            PrepareMountPoint(home);
            Mount(LoopDevice.DevicePathOf(device), home, "ext4", MS_NOSUID | MS_NODEV, null);
        }
        else
        {
            await PrepareImageAsync(workspace, cancellationToken).ConfigureAwait(false);
            using var loop = LoopDevice.Attach(image, readOnly: false);
            // discard: space the user frees goes back to the host (the image stays sparse).
            Mount(loop.DevicePath, home, "ext4", MS_NOSUID | MS_NODEV, "discard");
        }
        // The filesystem's root is the home: the user's, and nobody else's.
        var (owner, group, mode) = workspace.HomeRoot;
        Libc.chown(home, owner, group);
        Libc.chmod(home, (int)mode);
    }

    /// <summary>A loop device still bound to the image a moment after its last user went is being unbound (autoclear runs
    /// asynchronously): wait for that. One that stays bound is used elsewhere, and is returned.</summary>
    private static async Task<int?> BoundAfterRundownAsync(string image)
    {
        var deadline = DateTime.UtcNow.AddSeconds(2);
        while (true)
        {
            var bound = LoopDevice.BoundTo(image);
            if (bound.Count == 0) return null;
            if (DateTime.UtcNow > deadline) return bound[0];
            await Task.Delay(20).ConfigureAwait(false);
        }
    }

    private async Task PrepareImageAsync(UserWorkspace workspace, CancellationToken cancellationToken)
    {
        var userDir = UserDirectory(workspace);
        var image = ImagePath(workspace);
        RemoveBuildLeftovers(userDir);
        bool plainHome = IsPlainHome(workspace.HostHome);
        if (!File.Exists(image))
        {
            if (plainHome) await MigrateAsync(workspace, cancellationToken).ConfigureAwait(false);
            else Commit(await BuildAsync(workspace, source: -1, needed: null, cancellationToken).ConfigureAwait(false), image);
            PrepareMountPoint(workspace.HostHome);
            return;
        }
        // The image exists and the old plain home too: a migration copied everything and stopped before removing it.
        if (plainHome) RemovePlainHome(workspace);
        PrepareMountPoint(workspace.HostHome);
        var superblock = Ext4Superblock.Read(image) ?? throw new IOException($"{image} is not an ext4 filesystem.");
        if (!superblock.Clean) await CheckAsync(workspace, image).ConfigureAwait(false);
        if (superblock.SizeBytes != QuotaBytesOf(workspace) || superblock.Label != Label)
            await RebuildAsync(workspace, superblock, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>An older version's home: a real directory at the home path that is not our empty, root-owned mount point.</summary>
    private static unsafe bool IsPlainHome(string home)
    {
        Statx st;
        fixed (byte* p = StorageCalls.Z(home))
            if (StorageCalls.statx(StorageCalls.AT_FDCWD, p, StorageCalls.AT_SYMLINK_NOFOLLOW, StorageCalls.STATX_BASIC_STATS, &st) != 0) return false;
        if (st.Type != StorageCalls.S_IFDIR) throw new IOException($"{home} is not a directory.");
        if (st.Uid != 0) return true;
        int fd = HostTree.OpenDirectory(home);
        try { return HostTree.Names(fd).Count > 0; }
        finally { Libc.close(fd); }
    }

    /// <summary>
    /// Moves an older version's plain home into a new image: copied entry by entry from descriptors (the content is the
    /// user's and may be hostile: links are copied as links and never followed, FIFOs and sockets are left out). What
    /// does not fit (it was over quota) stays in <c>home.unmigrated-*</c>, which only root can reach, and is logged.
    /// </summary>
    private async Task MigrateAsync(UserWorkspace workspace, CancellationToken cancellationToken)
    {
        var home = workspace.HostHome;
        int source = HostTree.OpenDirectory(home);
        Build build;
        try { build = await BuildAsync(workspace, source, needed: null, cancellationToken).ConfigureAwait(false); }
        finally { Libc.close(source); }
        var report = build.Report!;
        if (!report.Complete)
        {
            // Set the old tree aside before the image takes its place: a crash in between must not look like a finished copy.
            var aside = Path.Combine(UserDirectory(workspace), "home.unmigrated-" + DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture));
            Directory.Move(home, aside);
            Log.MigrationIncomplete(_logger, workspace.HomeKey, report.Incomplete!, aside);
        }
        Commit(build, ImagePath(workspace));
        if (report.Complete) RemovePlainHome(workspace);
        Log.Migrated(_logger, workspace.HomeKey, report.Files, report.Directories, report.Links, report.Bytes, report.Skipped);
    }

    /// <summary>Removes the old plain home once its content is in the image (descriptor by descriptor, links unfollowed).</summary>
    private void RemovePlainHome(UserWorkspace workspace)
    {
        var home = workspace.HostHome;
        int fd = HostTree.OpenDirectory(home);
        bool complete;
        try { complete = HostTree.DeleteContents(fd); }
        finally { Libc.close(fd); }
        if (complete) Directory.Delete(home);
        else
        {
            var aside = Path.Combine(UserDirectory(workspace), "home.unmigrated-" + DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture));
            Directory.Move(home, aside);
            Log.MigrationIncomplete(_logger, workspace.HomeKey, "the old home could not be removed completely", aside);
        }
    }

    /// <summary>
    /// The quota changed: a new image of the new size and file count, filled from the old one (mounted read-only), replaces
    /// it. Growing always works; shrinking works when the content fits, else the home keeps its size and a warning is
    /// logged at each start until the user has deleted enough (the file API still answers 507 at the configured quota).
    /// Rebuilt rather than resize2fs'd: resize2fs cannot change the inode count, which has to follow the file quota.
    /// </summary>
    private async Task RebuildAsync(UserWorkspace workspace, Ext4Superblock old, CancellationToken cancellationToken)
    {
        var image = ImagePath(workspace);
        var mountPoint = Path.Combine(UserDirectory(workspace), "rebuild");
        EmptyPrivateDirectory(mountPoint);
        int number;
        using (var loop = LoopDevice.Attach(image, readOnly: true))
        {
            number = loop.Number;
            Mount(loop.DevicePath, mountPoint, "ext4", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, null);
        }
        Build build;
        try
        {
            int source = HostTree.OpenDirectory(mountPoint);
            try
            {
                var used = FsUsage(source);
                build = await BuildAsync(workspace, source, (used.Bytes, used.Inodes - ReservedInodes), cancellationToken).ConfigureAwait(false);
            }
            finally { Libc.close(source); }
        }
        finally
        {
            Unmount(mountPoint);
            await LoopDevice.WaitUnboundAsync(number, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            TryDeleteDirectory(mountPoint);
        }
        if (build.Report!.Complete)
        {
            Commit(build, image);
            Log.Rebuilt(_logger, workspace.HomeKey, old.SizeBytes >> 20, MegabytesOf(workspace), _options.MaxFilesPerUser);
        }
        else
        {
            File.Delete(build.Staging);
            Log.RebuildRefused(_logger, workspace.HomeKey, old.SizeBytes >> 20, MegabytesOf(workspace), _options.MaxFilesPerUser, build.Report.Incomplete!);
        }
    }

    private sealed record Build(string Staging, TreeCopyReport? Report);

    /// <summary>
    /// Makes a new image next to the old (<c>home.img.new</c>, sparse, root's, 0600) and, with a <paramref name="source"/>
    /// directory, copies it in through a private mount. <paramref name="needed"/> (bytes and inodes the source uses) lets a
    /// rebuild that cannot fit give up before copying anything.
    /// </summary>
    private async Task<Build> BuildAsync(UserWorkspace workspace, int source, (long Bytes, long Inodes)? needed, CancellationToken cancellationToken)
    {
        var staging = ImagePath(workspace) + ".new";
        var mountPoint = Path.Combine(UserDirectory(workspace), "build");
        try
        {
            CreateSparse(staging, QuotaBytesOf(workspace));
            await FormatAsync(staging, workspace.Uid, _options.MaxFilesPerUser).ConfigureAwait(false);
            EmptyPrivateDirectory(mountPoint);
            int number;
            using (var loop = LoopDevice.Attach(staging, readOnly: false))
            {
                number = loop.Number;
                Mount(loop.DevicePath, mountPoint, "ext4", MS_NOSUID | MS_NODEV | MS_NOEXEC, null);
            }
            try
            {
                return new Build(staging, Fill(workspace, mountPoint, source, needed, cancellationToken));
            }
            finally
            {
                Unmount(mountPoint);
                // The unmount flushed the filesystem; the image file is complete once the device has let go of it.
                await LoopDevice.WaitUnboundAsync(number, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
                TryDeleteDirectory(mountPoint);
            }
        }
        catch
        {
            try { File.Delete(staging); } catch (IOException) { }
            throw;
        }
    }

    private static unsafe TreeCopyReport Fill(UserWorkspace workspace, string mountPoint, int source, (long Bytes, long Inodes)? needed,
        CancellationToken cancellationToken)
    {
        int root = HostTree.OpenDirectory(mountPoint);
        try
        {
            fixed (byte* name = "lost+found\0"u8) StorageCalls.unlinkat(root, name, StorageCalls.AT_REMOVEDIR);
            var (owner, group, mode) = workspace.HomeRoot;
            StorageCalls.fchown(root, owner, group);
            StorageCalls.fchmod(root, mode);
            if (source < 0) return new TreeCopyReport(0, 0, 0, 0, 0, null);
            var room = FsRoom(root);
            if (needed is { } need && (need.Bytes > room.Bytes || need.Inodes > room.Inodes))
                return new TreeCopyReport(0, 0, 0, 0, 0, $"the home holds {need.Bytes >> 20} MB in {need.Inodes} files and directories; " +
                    $"the new size has room for {room.Bytes >> 20} MB and {room.Inodes}");
            return HostTree.Copy(source, root, workspace.Uid, cancellationToken);
        }
        finally { Libc.close(root); }
    }

    /// <summary>
    /// mke2fs without a journal (it would take quota space; e2fsck repairs after an unclean stop instead), no reserved
    /// blocks, and as many inodes as the file quota allows files. mke2fs rounds the count up to whole inode-table blocks
    /// in every block group (16 inodes per group and 128 MB here): a result above the quota is made again, rounded down,
    /// so the kernel's bound is at most the quota (and at least the quota minus one such step per group). Only a quota
    /// below the smallest inode table (16 per group) ends up a little above it.
    /// </summary>
    private static async Task FormatAsync(string image, int uid, int files)
    {
        long target = (long)files + ReservedInodes;
        long? request = files > 0 ? target : null;
        for (int attempt = 0; attempt < 2; attempt++)
        {
            var arguments = new List<string>
            {
                "-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256", "-m", "0", "-O", "^has_journal,^resize_inode", "-L", LabelFor(files),
                "-E", $"root_owner={uid.ToString(CultureInfo.InvariantCulture)}:{uid.ToString(CultureInfo.InvariantCulture)},lazy_itable_init=0,nodiscard",
            };
            if (request is long n) arguments.AddRange(["-N", n.ToString(CultureInfo.InvariantCulture)]);
            arguments.Add(image);
            var (code, output) = await StorageTool.RunAsync("mke2fs", arguments, FormatTimeout, CancellationToken.None).ConfigureAwait(false);
            if (code != 0) throw new IOException($"mke2fs failed (exit {code}): {output}");
            var made = Ext4Superblock.Read(image) ?? throw new IOException("mke2fs made no ext4 filesystem.");
            if (files == 0 || made.UserInodes <= files) return;
            long groups = made.InodesCount / made.InodesPerGroup, perBlock = made.BlockSize / made.InodeSize;
            long perGroup = target / groups / perBlock * perBlock;
            if (perGroup < perBlock) return;
            request = perGroup * groups;
        }
    }

    private async Task CheckAsync(UserWorkspace workspace, string image)
    {
        var (code, output) = await StorageTool.RunAsync("e2fsck", ["-p", image], CheckTimeout, CancellationToken.None).ConfigureAwait(false);
        if (code >= 4) (code, output) = await StorageTool.RunAsync("e2fsck", ["-f", "-y", image], CheckTimeout, CancellationToken.None).ConfigureAwait(false);
        if (code >= 4) throw new IOException($"the home filesystem {image} is damaged and e2fsck could not repair it (exit {code}): {output}");
        Log.Checked(_logger, workspace.HomeKey, code, output);
    }

    private static unsafe void CreateSparse(string path, long bytes)
    {
        try { File.Delete(path); } catch (IOException) { }
        int fd;
        fixed (byte* p = StorageCalls.Z(path))
            fd = StorageCalls.openat(StorageCalls.AT_FDCWD, p, StorageCalls.O_WRONLY | StorageCalls.O_CREAT | StorageCalls.O_EXCL
                | StorageCalls.O_NOFOLLOW | StorageCalls.O_CLOEXEC, 0x180);
        if (fd < 0) throw new IOException($"create {path}: {Libc.ErrorText(Libc.LastError)}");
        try
        {
            if (StorageCalls.ftruncate(fd, bytes) != 0) throw new IOException($"truncate {path}: {Libc.ErrorText(Libc.LastError)}");
        }
        finally { Libc.close(fd); }
    }

    /// <summary>Puts a finished image in place: durable first, then an atomic rename over the old one.</summary>
    private static unsafe void Commit(Build build, string image)
    {
        using (var file = new FileStream(build.Staging, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite)) file.Flush(flushToDisk: true);
        File.Move(build.Staging, image, overwrite: true);
        int dir = HostTree.OpenDirectory(Path.GetDirectoryName(image)!);
        try { StorageCalls.fsync(dir); }
        finally { Libc.close(dir); }
    }

    /// <summary>A mount point only root can enter, for a filesystem being filled or read before any sandbox may see it.</summary>
    private void EmptyPrivateDirectory(string path)
    {
        if (Directory.Exists(path))
        {
            if (MountTable.At(path) is not null) Unmount(path);
            Directory.Delete(path);
        }
        Directory.CreateDirectory(path);
        Libc.chown(path, 0, 0);
        Libc.chmod(path, Convert.ToInt32("700", 8));
    }

    /// <summary>What an interrupted build or rebuild left in a user's directory (its mounts, its unfinished image).</summary>
    private void RemoveBuildLeftovers(string userDir)
    {
        foreach (var name in new[] { "build", "rebuild" })
        {
            var path = Path.Combine(userDir, name);
            if (MountTable.At(path) is not null) Unmount(path);
            TryDeleteDirectory(path);
        }
        try { File.Delete(Path.Combine(userDir, ImageName + ".new")); } catch (IOException) { }
    }

    private static void TryDeleteDirectory(string path)
    {
        try { if (Directory.Exists(path)) Directory.Delete(path); } catch (IOException) { }
    }

    private static unsafe (long Bytes, long Inodes) FsUsage(int fd)
    {
        Statfs fs;
        if (StorageCalls.fstatfs(fd, &fs) != 0) throw new IOException($"statfs: {Libc.ErrorText(Libc.LastError)}");
        return ((long)(fs.Blocks - fs.FreeBlocks) * fs.BlockSize, (long)(fs.Files - fs.FreeFiles));
    }

    private static unsafe (long Bytes, long Inodes) FsRoom(int fd)
    {
        Statfs fs;
        if (StorageCalls.fstatfs(fd, &fs) != 0) throw new IOException($"statfs: {Libc.ErrorText(Libc.LastError)}");
        return ((long)fs.AvailableBlocks * fs.BlockSize, (long)fs.FreeFiles);
    }
}
