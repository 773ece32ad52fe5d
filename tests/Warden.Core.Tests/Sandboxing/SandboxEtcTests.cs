using Warden.Core.Sandboxing;

namespace Warden.Core.Tests.Sandboxing;

/// <summary>The prepared /etc on a fake host root: what is copied, what is left out.</summary>
public sealed class SandboxEtcTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("warden-etc-").FullName;

    private string Host(string relative) => Path.Combine(_root, "host", relative);

    private string Target => Path.Combine(_root, "etc");

    private void HostFile(string relative, string content, UnixFileMode mode)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Host(relative))!);
        File.WriteAllText(Host(relative), content);
        File.SetUnixFileMode(Host(relative), mode);
    }

    private const UnixFileMode WorldReadable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private List<string> Prepare(params string[] paths) => SandboxEtc.Prepare(Target, paths, 1000, "/sandbox", Path.Combine(_root, "host"));

    [Fact]
    public void Prepare_Always_WritesTheSyntheticIdentityNotTheHosts()
    {
        HostFile("etc/passwd", "hostuser:x:0:0::/root:/bin/bash\n", WorldReadable);

        Prepare("/etc/passwd");

        var passwd = File.ReadAllText(Path.Combine(Target, "passwd"));
        Assert.Contains("sandbox:x:1000:1000", passwd);
        Assert.DoesNotContain("hostuser", passwd);
    }

    [Fact]
    public void Prepare_WorldReadableFilesAndDirectories_Copied()
    {
        HostFile("etc/nsswitch.conf", "hosts: files\n", WorldReadable);
        HostFile("etc/ssl/certs/ca.pem", "CERT", WorldReadable);

        Prepare("/etc/nsswitch.conf", "/etc/ssl");

        Assert.Equal("hosts: files\n", File.ReadAllText(Path.Combine(Target, "nsswitch.conf")));
        Assert.Equal("CERT", File.ReadAllText(Path.Combine(Target, "ssl/certs/ca.pem")));
    }

    [Fact]
    public void Prepare_PrivateFilesAndDirectories_LeftOut()
    {
        HostFile("etc/ssl/private/server.key", "KEY", UnixFileMode.UserRead);
        File.SetUnixFileMode(Host("etc/ssl/private"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        HostFile("etc/ssl/openssl.cnf", "cnf", WorldReadable);
        HostFile("etc/ssl/secret.conf", "secret", UnixFileMode.UserRead | UnixFileMode.UserWrite);

        Prepare("/etc/ssl");

        Assert.True(File.Exists(Path.Combine(Target, "ssl/openssl.cnf")));
        Assert.False(Directory.Exists(Path.Combine(Target, "ssl/private")));
        Assert.False(File.Exists(Path.Combine(Target, "ssl/secret.conf")));
    }

    [Fact]
    public void Prepare_SymbolicLinks_CopiedAsLinks()
    {
        Directory.CreateDirectory(Host("etc"));
        File.CreateSymbolicLink(Host("etc/localtime"), "/usr/share/zoneinfo/Etc/UTC");

        Prepare("/etc/localtime");

        Assert.Equal("/usr/share/zoneinfo/Etc/UTC", new FileInfo(Path.Combine(Target, "localtime")).LinkTarget);
    }

    [Fact]
    public void Prepare_MissingOrEscapingOrOutsideEtc_NotCopiedOutsidePathsReturned()
    {
        HostFile("secret", "no", WorldReadable);

        var elsewhere = Prepare("/etc/missing", "/etc/../secret", "/opt/tool.conf");

        Assert.Equal(["/opt/tool.conf"], elsewhere);
        // warden/: the empty mount points of the egress CA files (bound over them only when the proxy terminates TLS).
        Assert.Equal(["group", "hosts", "passwd", "warden"], Directory.EnumerateFileSystemEntries(Target).Select(Path.GetFileName).Order());
        Assert.Equal(["ca-bundle.pem", "ca.pem"], Directory.EnumerateFileSystemEntries(Path.Combine(Target, "warden")).Select(Path.GetFileName).Order());
        Assert.Equal("", File.ReadAllText(Path.Combine(Target, "warden", "ca-bundle.pem")));
    }

    /// <summary>A host /etc/warden (or a configured path into it) never replaces the mount points.</summary>
    [Fact]
    public void Prepare_HostEtcWarden_NotCopied()
    {
        HostFile("etc/warden/ca.pem", "host's", WorldReadable);

        Prepare("/etc/warden/ca.pem", "/etc/warden");

        Assert.Equal("", File.ReadAllText(Path.Combine(Target, "warden", "ca.pem")));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
