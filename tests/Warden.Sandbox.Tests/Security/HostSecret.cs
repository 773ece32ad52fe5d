namespace Warden.Sandbox.Tests.Security;

/// <summary>
/// A root-only (0600) file in a fresh directory outside every workspace: what a sandbox's links point at when they try
/// to make host-side code read the host. Its content must never appear in any result.
/// </summary>
internal sealed class HostSecret : IDisposable
{
    public HostSecret()
    {
        System.IO.Directory.CreateDirectory(Directory);
        System.IO.File.WriteAllText(File, Value);
        System.IO.File.SetUnixFileMode(File, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "warden-host-secret-" + Guid.NewGuid().ToString("N")[..12]);

    public string File => Path.Combine(Directory, "secret");

    public string Value { get; } = "HOST-SECRET-" + Guid.NewGuid().ToString("N");

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}
