using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Warden.Core.Egress;

namespace Warden.Core.Tests.Egress;

/// <summary>
/// The lifecycle the sandbox side relies on: one listener (in a sandbox's netns) lives as long as the sandbox, and the
/// grant it serves changes per run (a session's cell, a terminal's command, a warm sandbox's next execution).
/// </summary>
public sealed class EgressServeTests
{
    [Fact]
    public async Task OneListener_ServedAgainForANewGrant_CountsAndRecordsPerGrant()
    {
        await using var origin = new TestOrigin();
        var settings = EgressSettings.From(new EgressOptions
        {
            Allow = $"allowed.test:{origin.Port}",
            Hosts = "allowed.test=127.0.0.1",
            AllowPrivate = $"127.0.0.1/32:{origin.Port}",
        });
        var records = Channel.CreateUnbounded<EgressRecord>();
        using var meter = new Meter("Warden.Tests.Egress." + Guid.NewGuid().ToString("N"));
        await using var proxy = new EgressProxy(settings, new AddressPolicy(settings.AllowPrivate, new HostAddresses([IPAddress.Loopback], watch: false)),
            null, null, new DelegateEgressAuditSink((r, ct) => records.Writer.WriteAsync(r, ct)), new EgressMetrics(meter, owns: false),
            NullLogger.Instance, TimeProvider.System);
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(16);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var request = $"GET http://allowed.test:{origin.Port}/echo HTTP/1.1\r\nHost: allowed.test:{origin.Port}\r\n\r\n";

        var first = proxy.CreateGrant("key:a", "cell-1", settings.Ceiling);
        var serving = proxy.Serve(listener, first);
        Assert.StartsWith("HTTP/1.1 200 ", await SendAsync(port, request), StringComparison.Ordinal);
        Assert.Equal("cell-1", (await records.Reader.ReadAsync(TestContext.Current.CancellationToken)).RunId);
        await serving.DisposeAsync();
        first.Revoke();

        // The same listener socket, still open, now for the next cell's grant.
        var second = proxy.CreateGrant("key:a", "cell-2", settings.Ceiling);
        await using (proxy.Serve(listener, second))
        {
            Assert.StartsWith("HTTP/1.1 200 ", await SendAsync(port, request), StringComparison.Ordinal);
            Assert.Equal("cell-2", (await records.Reader.ReadAsync(TestContext.Current.CancellationToken)).RunId);
        }

        Assert.Equal(1, first.Snapshot().Connections);
        Assert.Equal(1, second.Snapshot().Connections);
        Assert.Equal(2, origin.Heads.Count);
    }

    private static async Task<string> SendAsync(int port, string request)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        return await EgressHarness.ReadToEndAsync(stream);
    }
}
