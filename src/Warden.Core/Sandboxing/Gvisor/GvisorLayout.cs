using Warden.Core.Sandboxing.Spec;
using Warden.Core.State;

namespace Warden.Core.Sandboxing.Gvisor;

/// <summary>
/// The read-only root every gVisor sandbox of an instance shares: an empty skeleton holding only mount points and the
/// /bin → usr/bin style links, plus the host paths bound into it. Inside gVisor the program runs as the slot's uid and
/// the skeleton's modes apply to it: directories 0755 and files 0644, whatever the umask.
/// </summary>
internal sealed record GvisorLayout(
    string RootFs,
    IReadOnlyList<string> ReadOnlyBinds,
    IReadOnlyList<(string Source, string Destination)> Files)
{
    /// <summary>The layout as the spec's shared part: the skeleton as root, the host paths and identity files bound into it.</summary>
    /// <param name="identityFiles">A session's own /etc/passwd, group and hosts (naming its uid) in place of the shared ones.</param>
    public SandboxBase Base(IReadOnlyList<(string Source, string Destination)>? identityFiles = null) => new(new DirectoryRoot(RootFs), [
        .. ReadOnlyBinds.Select(path => new ReadOnlyBind(path, path)),
        .. (identityFiles ?? Files).Select(file => new ReadOnlyBind(file.Source, file.Destination)),
    ]);

    public static GvisorLayout Create(string runDirectory, SandboxFilesystemOptions filesystem, int uid, string workspace)
    {
        var root = Path.Combine(runDirectory, "rootfs");
        ReadableFiles.CreateDirectory(root);
        var (links, topDirs) = SandboxFilesystemOptions.TopLevel();
        foreach (var (target, link) in links) File.CreateSymbolicLink(Path.Combine(root, link.TrimStart('/')), target);
        var binds = filesystem.ReadOnlyDirectories.Concat(topDirs).Where(Directory.Exists)
            .Concat(filesystem.ReadOnlyPathsIfPresent.Where(p => File.Exists(p) || Directory.Exists(p))).Distinct().ToList();
        foreach (var dir in new[] { "proc", "dev", "sys", "tmp", "etc", workspace.TrimStart('/') }) ReadableFiles.CreateDirectory(Path.Combine(root, dir));
        // Every mount point must already exist: the root is read-only, so gVisor cannot create them.
        foreach (var path in binds)
        {
            var inRoot = Path.Combine(root, path.TrimStart('/'));
            ReadableFiles.CreateDirectory(Path.GetDirectoryName(inRoot)!);
            if (Directory.Exists(path)) ReadableFiles.CreateDirectory(inRoot); else ReadableFiles.WriteText(inRoot, "");
        }
        SandboxEtc.TrustMountPoints(Path.Combine(root, "etc"));
        var etc = Path.Combine(runDirectory, "etc");
        ReadableFiles.CreateDirectory(etc);
        var files = new List<(string, string)>();
        SandboxIdentity.WriteFiles(Path.Combine(etc, "passwd"), Path.Combine(etc, "group"), Path.Combine(etc, "hosts"), uid, workspace);
        foreach (var name in new[] { "passwd", "group", "hosts" })
        {
            ReadableFiles.WriteText(Path.Combine(root, "etc", name), "");
            files.Add((Path.Combine(etc, name), "/etc/" + name));
        }
        return new GvisorLayout(root, binds, files);
    }
}
