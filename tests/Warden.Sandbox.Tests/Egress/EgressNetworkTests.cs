using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Warden.Core.Networking;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Egress;

/// <summary>
/// The egress namespace itself, without a backend: what a process that joins it through warden-exec's <c>netns=</c>
/// field can reach (Warden's listener; not the host's loopback, not any route), that the helper fails closed, and that
/// disposing leaves no descriptor behind. Needs root (unshare/setns), as egress does.
/// </summary>
[Collection(nameof(EgressCollection))] // serial with the engines: the leak tests count namespace fds
public sealed class EgressNetworkTests
{
    private const string Probe = """
        import os, socket, sys
        print(os.readlink('/proc/self/ns/net'))
        for host, port in [('127.0.0.1', 3128), ('127.0.0.1', int(sys.argv[1])), ('10.0.0.1', 80)]:
            try:
                s = socket.create_connection((host, port), timeout=3)
                s.sendall(b'hello')
                print(host, port, 'connected')
                s.close()
            except OSError as e:
                print(host, port, 'refused', e.errno)
        try:
            socket.getaddrinfo('example.com', 80)
            print('dns resolved')
        except OSError:
            print('dns failed')
        """;

    private static void RequireRoot()
    {
        if (Environment.UserName != "root") throw SandboxRequirement.Unavailable("egress", "network namespaces need root");
    }

    [Fact]
    public async Task HelperJoinsNamespace_ReachesOnlyWardensListener()
    {
        RequireRoot();
        var ct = TestContext.Current.CancellationToken;
        using var hostListener = new TcpListener(IPAddress.Loopback, 0);
        hostListener.Start();
        int hostPort = ((IPEndPoint)hostListener.LocalEndpoint).Port;
        using var network = await EgressNetwork.CreateAsync(ct);
        var accept = network.Listeners[0].AcceptAsync(ct).AsTask();

        var (exit, stdout, stderr) = await RunHelperAsync([$"netns={network.HelperPath}", "--", "/usr/bin/python3", "-c", Probe, hostPort.ToString(System.Globalization.CultureInfo.InvariantCulture)], ct);

        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(network.Identity, lines[0]);
        Assert.NotEqual(NetworkNamespace.IdentityOf("/proc/self/ns/net"), lines[0]);
        Assert.Equal("127.0.0.1 3128 connected", lines[1]);
        Assert.Equal($"127.0.0.1 {hostPort} refused 111", lines[2]); // ECONNREFUSED: the namespace's own loopback
        Assert.Equal("10.0.0.1 80 refused 101", lines[3]); // ENETUNREACH: no route at all
        Assert.Equal("dns failed", lines[4]);
        using var accepted = await accept.WaitAsync(TimeSpan.FromSeconds(10), ct);
        var buffer = new byte[5];
        await accepted.ReceiveAsync(buffer, ct);
        Assert.Equal("hello", Encoding.ASCII.GetString(buffer));
        Assert.False(hostListener.Pending(), "the host's loopback listener received a connection from the egress namespace");
    }

    [Fact]
    public async Task Listener_NotReachableFromWardensNamespace()
    {
        RequireRoot();
        var ct = TestContext.Current.CancellationToken;
        using var network = await EgressNetwork.CreateAsync(ct);
        var accept = network.Listeners[0].AcceptAsync(ct).AsTask();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, EgressNetwork.ProxyPort), ct).AsTask().WaitAsync(TimeSpan.FromSeconds(3), ct);
        }
        catch (SocketException)
        {
            // Nothing listens on the host's 3128: the expected case.
        }
        await Task.Delay(200, ct);
        Assert.False(accept.IsCompleted, "a connection from Warden's own namespace reached the egress listener");
    }

    [Theory]
    [InlineData("/etc/passwd", "setns netns")]
    [InlineData("/proc/self/ns/pid", "setns netns")] // the helper's own pid namespace: a namespace, but not a network one
    [InlineData("/nonexistent/netns", "open netns")]
    public async Task HelperWithBadNetns_FailsClosed(string path, string message)
    {
        RequireRoot();
        var ct = TestContext.Current.CancellationToken;

        var (exit, stdout, stderr) = await RunHelperAsync([$"netns={path}", "--", "/usr/bin/readlink", "/proc/self/ns/net"], ct);

        Assert.Equal(125, exit);
        Assert.Empty(stdout);
        Assert.Contains("warden-exec: " + message, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dispose_ClosesNamespaceAndListeners()
    {
        RequireRoot();
        var ct = TestContext.Current.CancellationToken;
        int before = OpenNetworkNamespaces();
        var network = await EgressNetwork.CreateAsync(ct);
        Assert.Equal(before + 1, OpenNetworkNamespaces());
        Assert.Contains(network.Identity, NamespaceLinks());

        network.Dispose();

        Assert.Equal(before, OpenNetworkNamespaces());
        Assert.DoesNotContain(network.Identity, NamespaceLinks());
        Assert.All(network.Listeners, l => Assert.Throws<ObjectDisposedException>(() => l.LocalEndPoint));
    }

    [Fact]
    public async Task InsideExistingNamespace_ListensThere()
    {
        RequireRoot();
        var ct = TestContext.Current.CancellationToken;
        // A namespace someone else made (as Docker makes a keeper's): a process holding one, lo brought up by hand.
        using var holder = Process.Start(new ProcessStartInfo("/usr/bin/unshare", ["--net", "/bin/sh", "-c", "ip link set lo up && exec sleep 30"]))!;
        try
        {
            string path = $"/proc/{holder.Id}/ns/net";
            string? own = NetworkNamespace.IdentityOf("/proc/self/ns/net");
            for (int i = 0; i < 100 && NetworkNamespace.IdentityOf(path) == own; i++) await Task.Delay(20, ct);
            await Task.Delay(100, ct); // lo up
            using var network = await EgressNetwork.InsideAsync(NetworkNamespace.Open(path), ct);

            Assert.Equal(NetworkNamespace.IdentityOf(path), network.Identity);
            Assert.True(network.Contains(holder.Id));
            Assert.False(network.Contains(Environment.ProcessId));
            Assert.Equal(NetworkNamespace.IdentityOf("/proc/thread-self/ns/net"), own); // the caller's thread stayed home
        }
        finally
        {
            holder.Kill();
            await holder.WaitForExitAsync(ct);
        }
    }

    private static int OpenNetworkNamespaces() => NamespaceLinks().Count;

    private static List<string> NamespaceLinks() =>
        Directory.GetFiles("/proc/self/fd").Select(f => new FileInfo(f).LinkTarget).OfType<string>()
            .Where(t => t.StartsWith("net:[", StringComparison.Ordinal)).ToList();

    /// <summary>Runs warden-exec as nobody with <paramref name="control"/> on fd 3 (through a file and a shell redirect).</summary>
    internal static async Task<(int Exit, string Stdout, string Stderr)> RunHelperAsync(IReadOnlyList<string> control, CancellationToken ct)
    {
        string file = Path.Combine(Path.GetTempPath(), $"warden-egress-control-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(file, string.Join('\0', control) + "\0", ct);
        try
        {
            string helper = Path.Combine(AppContext.BaseDirectory, "warden-exec");
            var start = new ProcessStartInfo("/bin/sh", ["-c", "exec \"$0\" --uid 65534 --gid 65534 3<\"$1\"", helper, file])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(30), ct);
            return (process.ExitCode, await stdout, await stderr);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
