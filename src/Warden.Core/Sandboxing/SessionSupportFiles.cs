using System.Security.Cryptography;
using Warden.Core.Interop;

namespace Warden.Core.Sandboxing;

/// <summary>
/// A session's support files (its kernel driver) on the host, written once per content into the backend instance's run
/// directory: readable by every sandbox uid, writable by none. Every backend binds the directory read-only at
/// <see cref="SessionSpec.SupportDirectory"/>.
/// </summary>
internal static class SessionSupportFiles
{
    // One lock for every instance: writing is rare (once per kernel kind), and two writers must never share a staging directory.
    private static readonly Lock Gate = new();

    /// <summary>The directory holding <paramref name="files"/>; the same directory for the same names and contents.</summary>
    public static string Directory(string runDirectory, IReadOnlyDictionary<string, byte[]> files)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, content) in files.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(name + "\0"));
            hash.AppendData(content);
        }
        var directory = Path.Combine(runDirectory, "support", Convert.ToHexStringLower(hash.GetHashAndReset())[..16]);
        lock (Gate)
        {
            if (System.IO.Directory.Exists(directory)) return directory;
            var staging = directory + ".tmp";
            // A staging directory left by a crash mid-write is rebuilt, never reused half-written.
            if (System.IO.Directory.Exists(staging)) System.IO.Directory.Delete(staging, recursive: true);
            System.IO.Directory.CreateDirectory(staging);
            foreach (var (name, content) in files)
            {
                if (name.Length == 0 || name.Contains('/', StringComparison.Ordinal) || name.StartsWith('.'))
                    throw new ArgumentException($"Bad support file name '{name}'.", nameof(files));
                var path = Path.Combine(staging, name);
                File.WriteAllBytes(path, content);
                Libc.chmod(path, Convert.ToInt32("644", 8));
            }
            // Bound read-only into the sandbox; the modes only let a sandbox uid read them.
            Libc.chmod(staging, Convert.ToInt32("755", 8));
            Libc.chmod(Path.GetDirectoryName(staging)!, Convert.ToInt32("755", 8));
            System.IO.Directory.Move(staging, directory);
            return directory;
        }
    }
}
