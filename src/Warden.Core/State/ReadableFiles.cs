namespace Warden.Core.State;

/// <summary>
/// Files and directories every sandbox reads (its /etc, gVisor's root skeleton): 0644 and 0755 exactly. Sandboxes run
/// under uids of their own, so under a strict umask (077) these came out 0600/0700 and no sandbox could read them.
/// </summary>
internal static class ReadableFiles
{
    public static UnixFileMode DirectoryMode { get; } = (UnixFileMode)Convert.ToInt32("755", 8);

    public static UnixFileMode FileMode { get; } = (UnixFileMode)Convert.ToInt32("644", 8);

    /// <summary>Creates <paramref name="path"/> and every missing directory above it, each 0755 (chmod: mkdir's mode is cut by the umask).</summary>
    public static void CreateDirectory(string path)
    {
        var missing = new Stack<string>();
        for (var dir = Path.GetFullPath(path); !Directory.Exists(dir); dir = Path.GetDirectoryName(dir)!) missing.Push(dir);
        while (missing.TryPop(out var dir))
        {
            Directory.CreateDirectory(dir);
            File.SetUnixFileMode(dir, DirectoryMode);
        }
    }

    /// <summary>Writes <paramref name="path"/> and makes it 0644.</summary>
    public static void WriteText(string path, string text)
    {
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, FileMode);
    }
}
