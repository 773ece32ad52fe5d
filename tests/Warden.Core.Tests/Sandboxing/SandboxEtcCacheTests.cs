using Warden.Core.Sandboxing;

namespace Warden.Core.Tests.Sandboxing;

/// <summary>The prepared /etc kept across starts: reused while the host's entries are unchanged, rebuilt when they change.</summary>
public sealed class SandboxEtcCacheTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("warden-etc-cache-").FullName;

    private string HostRoot => Path.Combine(_root, "host");

    private string Cache => Path.Combine(_root, "cache");

    private void HostFile(string relative, string content)
    {
        var path = Path.Combine(HostRoot, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    private (string Directory, List<string> Elsewhere) Prepare(params string[] paths) => SandboxEtcCache.Prepare(Cache, paths, 1000, "/sandbox", HostRoot);

    [Fact]
    public void Prepare_Unchanged_SameCopyReusedNotRebuilt()
    {
        HostFile("etc/ssl/certs/ca.pem", "cert one");
        var first = Prepare("/etc/ssl", "/opt/extra");
        var marker = Path.Combine(first.Directory, "ssl", "certs", "ca.pem");
        var written = File.GetLastWriteTimeUtc(marker);

        var second = Prepare("/etc/ssl", "/opt/extra");

        Assert.Equal(first.Directory, second.Directory);
        Assert.Equal(["/opt/extra"], second.Elsewhere);
        Assert.Equal(written, File.GetLastWriteTimeUtc(marker));
        Assert.Equal("cert one", File.ReadAllText(marker));
        Assert.Contains("sandbox:x:1000:1000", File.ReadAllText(Path.Combine(second.Directory, "passwd")), StringComparison.Ordinal);
    }

    [Fact]
    public void Prepare_HostEntryChanged_NewCopyWithTheNewContent()
    {
        HostFile("etc/ssl/certs/ca.pem", "cert one");
        var first = Prepare("/etc/ssl");
        HostFile("etc/ssl/certs/ca.pem", "cert two, longer");

        var second = Prepare("/etc/ssl");

        Assert.NotEqual(first.Directory, second.Directory);
        Assert.Equal("cert two, longer", File.ReadAllText(Path.Combine(second.Directory, "ssl", "certs", "ca.pem")));
    }

    [Fact]
    public void Prepare_NewHostEntryOrOtherPaths_NewFingerprint()
    {
        HostFile("etc/fonts/a.conf", "a");
        var before = SandboxEtcCache.Fingerprint(["/etc/fonts"], 1000, "/sandbox", HostRoot);
        HostFile("etc/fonts/b.conf", "b");

        Assert.NotEqual(before, SandboxEtcCache.Fingerprint(["/etc/fonts"], 1000, "/sandbox", HostRoot));
        Assert.NotEqual(SandboxEtcCache.Fingerprint(["/etc/fonts"], 1000, "/sandbox", HostRoot),
            SandboxEtcCache.Fingerprint(["/etc/fonts"], 1001, "/sandbox", HostRoot));
        Assert.NotEqual(SandboxEtcCache.Fingerprint(["/etc/fonts"], 1000, "/sandbox", HostRoot),
            SandboxEtcCache.Fingerprint(["/etc/fonts", "/etc/ssl"], 1000, "/sandbox", HostRoot));
    }

    [Fact]
    public void Prepare_IncompleteCopyOfTheSameFingerprint_Rebuilt()
    {
        HostFile("etc/mime.types", "text/plain txt");
        var name = SandboxEtcCache.Fingerprint(["/etc/mime.types"], 1000, "/sandbox", HostRoot);
        // A copy interrupted before its completion mark (a crash mid-copy) is never used as it is.
        Directory.CreateDirectory(Path.Combine(Cache, name));

        var prepared = Prepare("/etc/mime.types");

        Assert.Equal("text/plain txt", File.ReadAllText(Path.Combine(prepared.Directory, "mime.types")));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
