using System.Diagnostics;
using System.Text;
using Warden.Core.Interop;

namespace Warden.Core.Tests.Sandboxing.Files;

/// <summary>
/// A temporary directory to fill with what a hostile sandbox could leave (links, FIFOs, sockets, devices, sparse files,
/// deep trees, raw names), next to a root-only secret outside it that no walk may ever read.
/// </summary>
internal sealed class HostileTree : IDisposable
{
    // On a tmpfs where there is one, as a slot's workspace is (and thousands of entries cost nothing to make).
    private readonly string _base = Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), "warden-tree-" + Guid.NewGuid().ToString("N")[..12]);

    public HostileTree()
    {
        Directory.CreateDirectory(Root);
        Directory.CreateDirectory(Outside);
        File.WriteAllText(SecretFile, Secret);
        File.SetUnixFileMode(SecretFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>The tree under test.</summary>
    public string Root => Path.Combine(_base, "root");

    /// <summary>A directory beside the tree (the host), holding the secret.</summary>
    public string Outside => Path.Combine(_base, "outside");

    public string SecretFile => Path.Combine(Outside, "secret");

    public string Secret { get; } = "host-secret-" + Guid.NewGuid().ToString("N");

    public string PathOf(string relative) => Path.Combine(Root, relative);

    public void Write(string relative, string content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(PathOf(relative))!);
        File.WriteAllText(PathOf(relative), content);
    }

    public void Link(string relative, string target) => File.CreateSymbolicLink(PathOf(relative), target);

    public void Fifo(string relative) => Assert.Equal(0, Libc.mkfifo(PathOf(relative), Convert.ToInt32("644", 8)));

    /// <summary>A bound unix socket's node (python's, which stays when the socket closes; .NET's removes it).</summary>
    public void UnixSocket(string relative) =>
        Run("python3", "-c", "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", PathOf(relative));

    public void Device(string relative) => Run("mknod", PathOf(relative), "c", "1", "3");

    public void Sparse(string relative, long bytes)
    {
        using var file = File.Create(PathOf(relative));
        file.SetLength(bytes);
    }

    /// <summary><paramref name="levels"/> nested directories "d/d/d/…" made with *at calls (the path soon exceeds PATH_MAX), a file at the bottom.</summary>
    public unsafe void Deep(string name, int levels)
    {
        int fd = Libc.open(Root, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
        var z = Encoding.ASCII.GetBytes(name + "\0");
        fixed (byte* p = z)
        {
            for (int i = 0; i < levels; i++)
            {
                Assert.Equal(0, Libc.mkdirat(fd, p, Convert.ToInt32("755", 8)));
                int next = Libc.openat(fd, p, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
                Assert.True(next >= 0);
                Libc.close(fd);
                fd = next;
            }
            fixed (byte* f = "bottom.txt\0"u8)
            {
                int file = Libc.openat(fd, f, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_CLOEXEC, Convert.ToInt32("644", 8));
                Libc.close(file);
            }
        }
        Libc.close(fd);
    }

    /// <summary>A file whose name is raw bytes (not necessarily UTF-8).</summary>
    public unsafe void RawName(byte[] name, string content)
    {
        int dir = Libc.open(Root, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
        var z = name.Append((byte)0).ToArray();
        var data = Encoding.UTF8.GetBytes(content);
        fixed (byte* p = z)
        fixed (byte* d = data)
        {
            int fd = Libc.openat(dir, p, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_CLOEXEC, Convert.ToInt32("644", 8));
            Assert.True(fd >= 0, "create raw name");
            Libc.write(fd, d, data.Length);
            Libc.close(fd);
        }
        Libc.close(dir);
    }

    /// <summary>renameat2(RENAME_EXCHANGE): swaps two names atomically, as a racing sandbox process would.</summary>
    public unsafe bool Exchange(string a, string b)
    {
        var za = Encoding.UTF8.GetBytes(PathOf(a) + "\0");
        var zb = Encoding.UTF8.GetBytes(PathOf(b) + "\0");
        fixed (byte* pa = za)
        fixed (byte* pb = zb)
            return Libc.renameat2(-100, pa, -100, pb, 2) == 0;
    }

    public static void Run(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true })!;
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)}: {process.StandardError.ReadToEnd()}");
    }

    public void Dispose()
    {
        // The tree may be too deep for a path-based delete: the tree's own removal is what cleans it.
        try
        {
            using var tree = Warden.Core.Sandboxing.Files.SandboxTree.Open(_base);
            tree.DeleteContents();
            Directory.Delete(_base);
        }
        catch (IOException) { }
    }
}
