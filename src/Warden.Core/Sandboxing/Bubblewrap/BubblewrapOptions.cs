namespace Warden.Core.Sandboxing.Bubblewrap;

/// <summary>Configuration section <c>Warden:Bubblewrap</c>.</summary>
public sealed class BubblewrapOptions
{
    public const string Section = "Warden:Bubblewrap";

    public string BwrapPath { get; set; } = "/usr/bin/bwrap";

    /// <summary>Host directories bound read-only at the same path (the system's programs and libraries).</summary>
    public List<string> ReadOnlyDirectories { get; set; } = ["/usr"];

    /// <summary>Single /etc entries (and other small paths) bound read-only when they exist. Never all of /etc: it holds /etc/shadow.</summary>
    public List<string> ReadOnlyPathsIfPresent { get; set; } =
    [
        "/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives", "/etc/ssl", "/etc/ca-certificates",
        "/etc/java-17-openjdk", "/etc/matplotlibrc", "/etc/mime.types", "/etc/nsswitch.conf", "/etc/fonts",
    ];
}
