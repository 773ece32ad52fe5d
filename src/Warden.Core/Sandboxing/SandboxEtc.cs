using Warden.Core.State;

namespace Warden.Core.Sandboxing;

/// <summary>
/// The sandbox's /etc, prepared once per instance as one directory: the synthetic identity files plus copies of the
/// few host /etc entries programs need (SandboxFilesystemOptions.ReadOnlyPathsIfPresent). Bound read-only as a single
/// mount, where one bind per entry cost bwrap a mount, a remount and a mountinfo scan each: about 2.5 ms of every
/// sandbox start here for 13 entries (measured with the same bwrap line both ways, interleaved).
/// </summary>
/// <remarks>
/// Only what every user may read is copied (mode o+r, directories o+rx): a 0700 /etc/ssl/private stays out, where a
/// bind would have carried it (unreadable, but present). Symbolic links are copied as links; they resolve inside the
/// sandbox as on the host (/etc/localtime → /usr/share/zoneinfo/…). The copy is taken at start-up: a host change to
/// these files (new CA certificates) reaches sandboxes at the next start of the service.
/// </remarks>
internal static class SandboxEtc
{
    /// <summary>Fills <paramref name="target"/>; returns the host paths outside /etc, which still need binds of their own.</summary>
    /// <param name="sourceRoot">The host's root ("/"); tests pass a directory of their own.</param>
    public static List<string> Prepare(string target, IEnumerable<string> paths, int uid, string home, string sourceRoot = "/")
    {
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        ReadableFiles.CreateDirectory(target);
        SandboxIdentity.WriteFiles(Path.Combine(target, "passwd"), Path.Combine(target, "group"), Path.Combine(target, "hosts"), uid, home);
        TrustMountPoints(target);
        var elsewhere = new List<string>();
        foreach (var path in paths)
        {
            if (!path.StartsWith("/etc/", StringComparison.Ordinal))
            {
                elsewhere.Add(path);
                continue;
            }
            var relative = path["/etc/".Length..].TrimEnd('/');
            // The identity files are Warden's own, and the password databases never enter a sandbox, whatever is configured.
            if (relative.Length == 0 || relative.Split('/').Contains("..") || Reserved.Contains(relative.Split('/')[0])) continue;
            var source = Path.Combine(sourceRoot, "etc", relative);
            var destination = Path.Combine(target, relative);
            ReadableFiles.CreateDirectory(Path.GetDirectoryName(destination)!);
            Copy(new FileInfo(source), destination);
        }
        return elsewhere;
    }

    /// <summary>
    /// Empty files where an egress sandbox whose proxy terminates TLS gets the CA files bound (/etc/warden/ca-bundle.pem,
    /// ca.pem): the /etc bind is read-only, so the mount points must exist before. Empty in every other sandbox.
    /// </summary>
    public static void TrustMountPoints(string etc)
    {
        ReadableFiles.CreateDirectory(Path.Combine(etc, "warden"));
        foreach (var path in new[] { Egress.EgressTrust.SandboxBundlePath, Egress.EgressTrust.SandboxCaPath })
            ReadableFiles.WriteText(Path.Combine(etc, path["/etc/".Length..]), "");
    }

    private static readonly HashSet<string> Reserved = new(StringComparer.Ordinal) { "passwd", "group", "hosts", "shadow", "gshadow", "sudoers", "warden" };


    private static void Copy(FileSystemInfo source, string destination)
    {
        if (source.LinkTarget is { } link)
        {
            File.CreateSymbolicLink(destination, link);
            return;
        }
        if (Directory.Exists(source.FullName))
        {
            var mode = File.GetUnixFileMode(source.FullName);
            if (!mode.HasFlag(UnixFileMode.OtherRead) || !mode.HasFlag(UnixFileMode.OtherExecute)) return;
            ReadableFiles.CreateDirectory(destination);
            foreach (var entry in new DirectoryInfo(source.FullName).EnumerateFileSystemInfos())
                Copy(entry, Path.Combine(destination, entry.Name));
            return;
        }
        if (!File.Exists(source.FullName)) return;
        if (!File.GetUnixFileMode(source.FullName).HasFlag(UnixFileMode.OtherRead)) return;
        File.Copy(source.FullName, destination, overwrite: true);
        File.SetUnixFileMode(destination, ReadableFiles.FileMode);
    }
}
