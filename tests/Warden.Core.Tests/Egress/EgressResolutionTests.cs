using System.Net;
using System.Net.Sockets;
using Warden.Core.Egress;

namespace Warden.Core.Tests.Egress;

/// <summary>Resolution and dialling: once per connection, only vetted addresses, never the metadata address.</summary>
public sealed class EgressResolutionTests
{
    /// <summary>Answers from a script, one per call, and counts calls.</summary>
    private sealed class ScriptedResolver(params IPAddress[][] answers) : IEgressResolver
    {
        public int Calls;

        public ValueTask<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
        {
            var i = Interlocked.Increment(ref Calls) - 1;
            return ValueTask.FromResult(answers[Math.Min(i, answers.Length - 1)]);
        }
    }

    /// <summary>Records what it was asked to dial and connects to the loopback origin instead (no packet leaves the host).</summary>
    private sealed class RecordingConnector(int originPort, Func<IPEndPoint, bool>? forbidden = null) : IEgressConnector
    {
        public List<IPEndPoint> Dialled { get; } = [];
        public bool DialledForbidden;

        public async ValueTask<Socket> ConnectAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
        {
            lock (Dialled) Dialled.Add(endpoint);
            if (forbidden?.Invoke(endpoint) == true)
            {
                DialledForbidden = true;
                throw new SocketException((int)SocketError.AccessDenied);
            }
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, originPort), cancellationToken);
            return socket;
        }
    }

    private static readonly IPAddress Public = IPAddress.Parse("93.184.216.34");

    [Fact]
    public async Task Rebinding_ResolverCalledOnce_ConnectorSeesOnlyTheVettedAddress()
    {
        await using var origin = new TestOrigin();
        var resolver = new ScriptedResolver([Public], [IPAddress.Loopback]);
        var connector = new RecordingConnector(origin.Port);
        await using var h = new EgressHarness(new EgressOptions { Allow = "rebind.test:*" }, resolver: resolver, connector: connector);

        var answer = await h.SendRawAsync($"GET http://rebind.test:{origin.Port}/echo HTTP/1.1\r\nHost: rebind.test:{origin.Port}\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200 ", answer, StringComparison.Ordinal);
        Assert.Equal(1, resolver.Calls);
        Assert.Equal([new IPEndPoint(Public, origin.Port)], connector.Dialled);
        Assert.Equal(Public.ToString(), (await h.NextRecordAsync()).Address);
    }

    [Fact]
    public async Task MixedAnswers_OnlyThePublicOneDialled()
    {
        await using var origin = new TestOrigin();
        var resolver = new ScriptedResolver([IPAddress.Parse("10.0.0.7"), IPAddress.Parse("169.254.169.254"), Public]);
        var connector = new RecordingConnector(origin.Port, e => !e.Address.Equals(Public));
        await using var h = new EgressHarness(new EgressOptions { Allow = "mixed.test:*" }, resolver: resolver, connector: connector);

        var answer = await h.SendRawAsync($"GET http://mixed.test:{origin.Port}/echo HTTP/1.1\r\nHost: mixed.test:{origin.Port}\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200 ", answer, StringComparison.Ordinal);
        Assert.False(connector.DialledForbidden);
        Assert.Equal([new IPEndPoint(Public, origin.Port)], connector.Dialled);
    }

    [Theory]
    [InlineData("169.254.169.254")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("64:ff9b::a9fe:a9fe")]
    [InlineData("fd00:ec2::254")]
    [InlineData("100.100.100.200")]
    [InlineData("192.0.0.192")]
    public async Task MetadataAddress_NeverDialled(string address)
    {
        var resolver = new ScriptedResolver([IPAddress.Parse(address)]);
        var connector = new RecordingConnector(1, _ => true);
        await using var h = new EgressHarness(new EgressOptions { Allow = "*" }, resolver: resolver, connector: connector);

        var answer = await h.SendRawAsync("GET http://metadata.test/latest/meta-data/ HTTP/1.1\r\nHost: metadata.test\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 403 ", answer, StringComparison.Ordinal);
        Assert.Contains("reason=private_address", answer, StringComparison.Ordinal);
        Assert.Empty(connector.Dialled);
    }

    [Fact]
    public async Task NameThatDoesNotResolve_Refused502()
    {
        var resolver = new ScriptedResolver(Array.Empty<IPAddress>());
        var connector = new RecordingConnector(1, _ => true);
        await using var h = new EgressHarness(new EgressOptions { Allow = "*" }, resolver: resolver, connector: connector);

        var answer = await h.SendRawAsync("GET http://nowhere.test/ HTTP/1.1\r\nHost: nowhere.test\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 502 ", answer, StringComparison.Ordinal);
        Assert.Contains("reason=dns_failed", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GrantNarrowerThanCeiling_OnlyGrantPatternsReachable()
    {
        await using var origin = new TestOrigin();
        var connector = new RecordingConnector(origin.Port);
        await using var h = new EgressHarness(new EgressOptions { Allow = "*:*" }, grantPatterns: EgressPolicy.Parse("pypi.org:*"),
            resolver: new ScriptedResolver([Public]), connector: connector);

        var refused = await h.SendRawAsync("GET http://example.org/ HTTP/1.1\r\nHost: example.org\r\n\r\n");
        var allowed = await h.SendRawAsync("GET http://pypi.org/echo HTTP/1.1\r\nHost: pypi.org\r\n\r\n");

        Assert.Contains("reason=not_allowed", refused, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 200 ", allowed, StringComparison.Ordinal);
        Assert.Single(connector.Dialled);
    }
}
