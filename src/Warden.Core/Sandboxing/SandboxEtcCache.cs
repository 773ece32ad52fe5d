using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Warden.Core.State;

namespace Warden.Core.Sandboxing;

/// <summary>
/// The prepared sandbox /etc (<see cref="SandboxEtc"/>), kept across starts in <c>{StateDirectory}/etc/{fingerprint}</c>
/// instead of copied into every instance's run directory: the copy (~870 entries here: /etc/alternatives, /etc/ssl,
/// /etc/fonts, java) and its deletion at exit were most of a <c>warden run</c>'s time and of a server's start.
/// </summary>
/// <remarks>
/// The fingerprint covers what the copy depends on: the sandbox uid and home, the configured paths, and the path, kind,
/// mode, size, modification time and link target of every host entry under them. A host change (new CA certificates)
/// gives a new fingerprint, so the next start copies afresh, as before. A directory is used only once complete: it is
/// built under a temporary name and renamed into place. The state directory belongs to one Warden process at a time
/// (<see cref="StateDirectoryLock"/>), so the first preparation in it by a process removes the other fingerprints' copies.
/// </remarks>
internal static class SandboxEtcCache
{
    private const string Complete = ".complete";
    private const int FormatVersion = 1;
    private static readonly ConcurrentDictionary<string, bool> Pruned = new(StringComparer.Ordinal);

    /// <summary>The /etc directory to bind (under <paramref name="cacheRoot"/>) and the host paths outside /etc that need binds of their own.</summary>
    public static (string Directory, List<string> Elsewhere) Prepare(string cacheRoot, IReadOnlyList<string> paths, int uid, string home, string sourceRoot = "/")
    {
        StateDirectory.EnsureDirectory(cacheRoot, StateDirectory.TraversableMode);
        var name = Fingerprint(paths, uid, home, sourceRoot);
        var target = Path.Combine(cacheRoot, name);
        if (Pruned.TryAdd(cacheRoot, true)) Prune(cacheRoot, keep: name);
        var elsewhere = paths.Where(p => !p.StartsWith("/etc/", StringComparison.Ordinal)).ToList();
        if (File.Exists(Path.Combine(target, Complete))) return (target, elsewhere);

        // Only a complete copy is ever renamed into place, so one without its mark was left by something else: rebuilt.
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        var building = Path.Combine(cacheRoot, "tmp-" + Guid.NewGuid().ToString("N"));
        try
        {
            SandboxEtc.Prepare(building, paths, uid, home, sourceRoot);
            ReadableFiles.WriteText(Path.Combine(building, Complete), name + "\n");
            Directory.Move(building, target);
        }
        catch (IOException) when (File.Exists(Path.Combine(target, Complete)))
        {
            // Another engine of this process built the same one first: theirs is identical.
        }
        finally
        {
            if (Directory.Exists(building)) Directory.Delete(building, recursive: true);
        }
        return (target, elsewhere);
    }

    /// <summary>Removes the copies of other fingerprints and unfinished builds (once per state directory and process: see the remarks).</summary>
    private static void Prune(string cacheRoot, string keep)
    {
        foreach (var dir in new DirectoryInfo(cacheRoot).EnumerateDirectories())
        {
            if (dir.Name == keep || dir.LinkTarget is not null) continue;
            try { dir.Delete(recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // A copy that cannot be removed now is retried at the next start; it is never used while its fingerprint differs.
            }
        }
    }

    internal static string Fingerprint(IReadOnlyList<string> paths, int uid, string home, string sourceRoot)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string text) => hash.AppendData(Encoding.UTF8.GetBytes(text + "\0"));
        Add(string.Create(CultureInfo.InvariantCulture, $"v{FormatVersion} uid={uid} home={home}"));
        foreach (var path in paths)
        {
            Add("path " + path);
            if (path.StartsWith("/etc/", StringComparison.Ordinal)) Walk(new FileInfo(Path.Combine(sourceRoot, path.TrimStart('/'))), Add);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..32];
    }

    private static void Walk(FileSystemInfo entry, Action<string> add)
    {
        if (!entry.Exists && entry.LinkTarget is null)
        {
            if (!Directory.Exists(entry.FullName)) return;
            entry = new DirectoryInfo(entry.FullName);
        }
        if (entry.LinkTarget is { } link)
        {
            add($"link {entry.FullName} {link}");
            return;
        }
        var mode = (int)File.GetUnixFileMode(entry.FullName);
        if (entry is DirectoryInfo || Directory.Exists(entry.FullName))
        {
            var dir = entry as DirectoryInfo ?? new DirectoryInfo(entry.FullName);
            add(string.Create(CultureInfo.InvariantCulture, $"dir {dir.FullName} {mode}"));
            foreach (var child in dir.EnumerateFileSystemInfos().OrderBy(c => c.Name, StringComparer.Ordinal)) Walk(child, add);
            return;
        }
        var file = (FileInfo)entry;
        add(string.Create(CultureInfo.InvariantCulture, $"file {file.FullName} {mode} {file.Length} {file.LastWriteTimeUtc.Ticks}"));
    }
}
