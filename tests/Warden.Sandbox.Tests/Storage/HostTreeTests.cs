using System.Net.Sockets;
using Warden.Core.Interop;
using Warden.Core.Workspaces;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Storage;

/// <summary>
/// Copying and deleting a tree a user wrote, as root on the host: no link is followed, no FIFO blocks, nothing
/// outside the tree is touched, and a tree too deep to copy is reported, not half-copied silently.
/// </summary>
public sealed class HostTreeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("warden-tree-tests-").FullName;

    public HostTreeTests()
    {
        if (!Environment.IsPrivilegedProcess) throw SandboxRequirement.Unavailable("host tree copy", "needs root (it hands files to another uid)");
    }

    [Fact]
    public void Copy_LinksStayLinks_SpecialFilesLeftOut_OutsideUntouched()
    {
        var source = Directory.CreateDirectory(Path.Combine(_dir, "source")).FullName;
        var outside = Directory.CreateDirectory(Path.Combine(_dir, "outside")).FullName;
        File.WriteAllText(Path.Combine(outside, "secret"), "host secret");
        File.CreateSymbolicLink(Path.Combine(source, "to-outside-dir"), outside);
        File.CreateSymbolicLink(Path.Combine(source, "to-secret"), Path.Combine(outside, "secret"));
        Assert.Equal(0, Libc.mkfifo(Path.Combine(source, "fifo"), Convert.ToInt32("644", 8)));
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(Path.Combine(source, "socket")));
        File.WriteAllText(Path.Combine(source, "plain"), "data");
        var destination = Directory.CreateDirectory(Path.Combine(_dir, "destination")).FullName;

        var report = Copy(source, destination);

        Assert.True(report.Complete, report.Incomplete);
        Assert.Equal(2, report.Skipped); // the FIFO (never opened, so never blocked on) and the socket
        Assert.Equal(Path.Combine(outside, "secret"), new FileInfo(Path.Combine(destination, "to-secret")).LinkTarget);
        Assert.Equal(outside, new FileInfo(Path.Combine(destination, "to-outside-dir")).LinkTarget);
        Assert.Equal("data", File.ReadAllText(Path.Combine(destination, "plain")));
        Assert.Equal(["plain", "to-outside-dir", "to-secret"], Directory.GetFileSystemEntries(destination).Select(Path.GetFileName).Order());
        Assert.Equal("4321", Run("stat", "-c", "%u", Path.Combine(destination, "plain")));
    }

    [Fact]
    public void Copy_DeeperThanTheBound_IsReportedIncomplete()
    {
        var source = Directory.CreateDirectory(Path.Combine(_dir, "source")).FullName;
        // In a child, one relative step at a time, as a program would (and without moving this process's working directory).
        Run("python3", "-c", $"import os\nos.chdir('{source}')\nfor _ in range({HostTree.MaxDepth + 10}):\n    os.mkdir('d'); os.chdir('d')");
        var destination = Directory.CreateDirectory(Path.Combine(_dir, "destination")).FullName;

        var report = Copy(source, destination);

        Assert.False(report.Complete);
        Assert.Contains("deeper", report.Incomplete);
        Assert.InRange(report.Directories, HostTree.MaxDepth - 2, HostTree.MaxDepth);
    }

    [Fact]
    public void DeleteContents_RemovesTheTree_NeverThroughALink()
    {
        var tree = Directory.CreateDirectory(Path.Combine(_dir, "tree")).FullName;
        var outside = Directory.CreateDirectory(Path.Combine(_dir, "outside")).FullName;
        File.WriteAllText(Path.Combine(outside, "keep"), "x");
        Directory.CreateDirectory(Path.Combine(tree, "a", "b"));
        File.WriteAllText(Path.Combine(tree, "a", "b", "f"), "x");
        File.CreateSymbolicLink(Path.Combine(tree, "a", "link"), outside);

        int fd = HostTree.OpenDirectory(tree);
        bool complete;
        try { complete = HostTree.DeleteContents(fd); }
        finally { Libc.close(fd); }

        Assert.True(complete);
        Assert.Empty(Directory.GetFileSystemEntries(tree));
        Assert.True(File.Exists(Path.Combine(outside, "keep")));
    }

    private static TreeCopyReport Copy(string source, string destination)
    {
        int from = HostTree.OpenDirectory(source), to = HostTree.OpenDirectory(destination);
        try { return HostTree.Copy(from, to, 4321, TestContext.Current.CancellationToken); }
        finally
        {
            Libc.close(from);
            Libc.close(to);
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static string Run(string file, params string[] arguments)
    {
        var start = new System.Diagnostics.ProcessStartInfo(file) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
        return output;
    }
}
