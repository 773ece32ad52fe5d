using System.Text;
using Warden.Core.Execution;

namespace Warden.Core.Sandboxing;

/// <summary>
/// Reads a finished sandbox's workspace from the host side. The sandbox controls every name and link in it, so
/// symlinks and special files are skipped, never followed: reading as root through a link to /etc/shadow must be
/// impossible. Runs only after every sandbox process is dead, so nothing can swap a file for a link mid-read.
/// </summary>
internal static class WorkspaceFiles
{
    public static (IReadOnlyList<OutputFile> Files, bool Truncated) Collect(string root, IReadOnlyDictionary<string, string> inputs,
        int maxFiles, long maxBytes)
    {
        var result = new List<OutputFile>();
        long total = 0;
        bool truncated = false;
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = true, ReturnSpecialDirectories = false,
        };
        foreach (var path in Directory.EnumerateFiles(root, "*", options).Order(StringComparer.Ordinal))
        {
            var info = new FileInfo(path);
            if (info.LinkTarget is not null || (info.Attributes & (FileAttributes.ReparsePoint | FileAttributes.Device)) != 0) continue;
            if (IsUnder(root, info) is not { } name) continue;
            if (inputs.TryGetValue(name, out var original) && info.Length == Encoding.UTF8.GetByteCount(original)
                && File.ReadAllText(path) == original) continue;
            if (result.Count >= maxFiles || total + info.Length > maxBytes)
            {
                truncated = true;
                continue;
            }
            var content = File.ReadAllBytes(path);
            total += content.Length;
            result.Add(new OutputFile(name, content.Length, content));
        }
        return (result, truncated);
    }

    /// <summary>The workspace-relative name, or null when a directory on the way is a link (enumeration does not descend into links, but be sure).</summary>
    private static string? IsUnder(string root, FileInfo file)
    {
        for (var dir = file.Directory; dir is not null && dir.FullName.Length > root.Length; dir = dir.Parent)
            if (dir.LinkTarget is not null) return null;
        return Path.GetRelativePath(root, file.FullName);
    }
}
