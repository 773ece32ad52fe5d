namespace Warden.Core.Sandboxing;

/// <summary>
/// Configuration section <c>Warden:Filesystem</c>: what of the host every backend's sandbox sees, read-only.
/// Host packages are usable in the sandbox because /usr is shared (as safe-code-execution does with gVisor).
/// </summary>
public sealed class SandboxFilesystemOptions
{
    public const string Section = "Warden:Filesystem";

    /// <summary>Host directories bound read-only at the same path (the system's programs and libraries).</summary>
    public List<string> ReadOnlyDirectories { get; set; } = ["/usr"];

    /// <summary>Single /etc entries (and other small paths) bound read-only when they exist. Never all of /etc: it holds /etc/shadow.</summary>
    public List<string> ReadOnlyPathsIfPresent { get; set; } =
    [
        "/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives", "/etc/ssl", "/etc/ca-certificates",
        "/etc/java-17-openjdk", "/etc/matplotlibrc", "/etc/mime.types", "/etc/nsswitch.conf", "/etc/fonts",
    ];

    /// <summary>The top-level links (/bin → usr/bin on merged-/usr hosts) or, on older layouts, directories to bind.</summary>
    public static (List<(string Target, string Link)> Links, List<string> Directories) TopLevel()
    {
        var links = new List<(string, string)>();
        var dirs = new List<string>();
        foreach (var top in new[] { "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32" })
        {
            var info = new FileInfo(top);
            if (info.LinkTarget is { } target) links.Add((target, top));
            else if (Directory.Exists(top)) dirs.Add(top);
        }
        return (links, dirs);
    }
}
