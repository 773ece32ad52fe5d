using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Security;

/// <summary>
/// Each test opens a listener on the host's loopback and has the sandbox try to reach it. The sandbox must fail and the
/// listener must receive nothing: the sandbox is in its own network namespace and seccomp refuses inet sockets.
/// </summary>
[Collection(nameof(SandboxCollection))]
public sealed class NetworkTests(SandboxEngines engines)
{
    private const string TcpClient = """
        import socket, sys
        family = socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET
        try:
            s = socket.socket(family, socket.SOCK_STREAM)
            s.settimeout(3)
            s.connect((sys.argv[1], int(sys.argv[2])))
            s.sendall(b'escaped')
            print('CONNECTED')
        except OSError as e:
            print('refused', e.errno)
        """;

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_TcpConnectToHostLoopback_Fails(string backend)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture);

            var result = await engines[backend].Engine.RunAsync(Run.Python(TcpClient, ["127.0.0.1", port]));

            Run.AssertStatus(ExecutionStatus.Success, result);
            Assert.StartsWith("refused", result.Run.Stdout, StringComparison.Ordinal);
            Assert.False(listener.Pending(), "the host listener received a connection from the sandbox");
        }
        finally
        {
            listener.Stop();
        }
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_TcpConnectToHostIpv6Loopback_Fails(string backend)
    {
        var listener = new TcpListener(IPAddress.IPv6Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture);

            var result = await engines[backend].Engine.RunAsync(Run.Python(TcpClient, ["::1", port]));

            Run.AssertStatus(ExecutionStatus.Success, result);
            Assert.StartsWith("refused", result.Run.Stdout, StringComparison.Ordinal);
            Assert.False(listener.Pending(), "the host listener received a connection from the sandbox");
        }
        finally
        {
            listener.Stop();
        }
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_UdpSendToHostLoopback_NothingArrives(string backend)
    {
        using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)udp.Client.LocalEndPoint!).Port.ToString(CultureInfo.InvariantCulture);
        const string code = """
            import socket, sys
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                for _ in range(10):
                    s.sendto(b'escaped', ('127.0.0.1', int(sys.argv[1])))
                print('SENT')
            except OSError as e:
                print('refused', e.errno)
            """;

        var result = await engines[backend].Engine.RunAsync(Run.Python(code, [port]));
        await Task.Delay(200, TestContext.Current.CancellationToken);

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.StartsWith("refused", result.Run.Stdout, StringComparison.Ordinal);
        Assert.Equal(0, udp.Available);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_ConnectToHostAbstractUnixSocket_Fails(string backend)
    {
        // Abstract unix sockets are not files: only the network namespace separates them, and AF_UNIX is allowed by seccomp.
        var name = $"warden-test-{Guid.NewGuid():N}";
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint("\0" + name));
        listener.Listen();
        const string code = """
            import socket, sys
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(3)
                s.connect('\0' + sys.argv[1])
                s.sendall(b'escaped')
                print('CONNECTED')
            except OSError as e:
                print('refused', e.errno)
            """;

        var result = await engines[backend].Engine.RunAsync(Run.Python(code, [name]));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.StartsWith("refused", result.Run.Stdout, StringComparison.Ordinal);
        Assert.False(listener.Poll(0, SelectMode.SelectRead), "the host's abstract socket received a connection from the sandbox");
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_ListInterfaces_OnlyLoopback(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Bash("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("lo\n", result.Run.Stdout);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_OpenNetlinkOrPacketSocket_Refused(string backend)
    {
        const string code = """
            import socket
            for family, kind in [(socket.AF_NETLINK, socket.SOCK_RAW), (socket.AF_PACKET, socket.SOCK_RAW), (socket.AF_INET, socket.SOCK_RAW)]:
                try:
                    socket.socket(family, kind)
                    print('OPENED')
                except OSError as e:
                    print(e.errno)
            """;

        var result = await engines[backend].Engine.RunAsync(Run.Python(code));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.DoesNotContain("OPENED", result.Run.Stdout, StringComparison.Ordinal);
    }
}
