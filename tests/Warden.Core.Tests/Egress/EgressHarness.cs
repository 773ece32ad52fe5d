using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Warden.Core.Egress;

namespace Warden.Core.Tests.Egress;

/// <summary>
/// A real proxy serving a listener socket the test creates on 127.0.0.1:random, for one grant, with an audit sink the
/// test reads. Resolver and connector are the real ones unless a test injects its own.
/// </summary>
internal sealed class EgressHarness : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly IAsyncDisposable _serving;
    private readonly Channel<EgressRecord> _records = Channel.CreateUnbounded<EgressRecord>();
    private readonly Meter _meter = new("Warden.Tests.Egress." + Guid.NewGuid().ToString("N"));

    public EgressHarness(EgressOptions options, EgressPolicy? grantPatterns = null, EgressCaps? caps = null,
        IEgressResolver? resolver = null, IEgressConnector? connector = null, IEnumerable<IPEndPoint>? ownEndpoints = null)
    {
        Settings = EgressSettings.From(options);
        var addresses = new AddressPolicy(Settings.AllowPrivate, new HostAddresses([IPAddress.Loopback, IPAddress.IPv6Loopback], watch: false));
        if (ownEndpoints is not null) addresses.AddOwnEndpoints(ownEndpoints);
        Proxy = new EgressProxy(Settings, addresses, resolver, connector,
            new DelegateEgressAuditSink((r, ct) => _records.Writer.WriteAsync(r, ct)), new EgressMetrics(_meter, owns: true),
            NullLogger.Instance, TimeProvider.System);
        Grant = new EgressGrant("key:test", "run-" + Guid.NewGuid().ToString("N")[..8], grantPatterns ?? Settings.Ceiling, caps ?? Settings.Caps);
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(128);
        _serving = Proxy.Serve(_listener, Grant);
    }

    public EgressSettings Settings { get; }
    public EgressProxy Proxy { get; }
    public EgressGrant Grant { get; }
    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;
    public Uri ProxyUri => new($"http://127.0.0.1:{Port}");

    /// <summary>The next audit record (records are written when a connection ends).</summary>
    public async Task<EgressRecord> NextRecordAsync() =>
        await _records.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

    public HttpClient Client(TestPki? pki = null)
    {
        var handler = new SocketsHttpHandler
        {
            Proxy = new WebProxy(ProxyUri),
            UseProxy = true,
            PooledConnectionLifetime = TimeSpan.Zero,
        };
        if (pki is not null)
            handler.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, errors) => pki.Validate(cert as System.Security.Cryptography.X509Certificates.X509Certificate2, errors);
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(20) };
    }

    /// <summary>Opens a raw connection to the proxy.</summary>
    public async Task<NetworkStream> ConnectAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, Port);
        return new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>Sends <paramref name="request"/> as is and returns everything the proxy answers until it closes.</summary>
    public async Task<string> SendRawAsync(string request)
    {
        await using var stream = await ConnectAsync();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        return await ReadToEndAsync(stream);
    }

    public static async Task<string> ReadToEndAsync(Stream stream)
    {
        using var memory = new MemoryStream();
        try { await stream.CopyToAsync(memory).WaitAsync(TimeSpan.FromSeconds(15)); }
        catch (IOException) { } // a reset after the answer still leaves the answer
        return Encoding.ASCII.GetString(memory.ToArray());
    }

    /// <summary>Reads one CRLF-terminated line byte by byte (nothing past it is consumed).</summary>
    public static async Task<string> ReadHeadAsync(Stream stream)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (!(bytes.Count >= 4 && bytes[^1] == '\n' && bytes[^2] == '\r' && bytes[^3] == '\n' && bytes[^4] == '\r'))
        {
            if (await stream.ReadAsync(one).AsTask().WaitAsync(TimeSpan.FromSeconds(10)) == 0) break;
            bytes.Add(one[0]);
        }
        return Encoding.ASCII.GetString(bytes.ToArray());
    }

    public async ValueTask DisposeAsync()
    {
        await _serving.DisposeAsync();
        await Proxy.DisposeAsync();
        _listener.Dispose();
        _meter.Dispose();
    }
}
