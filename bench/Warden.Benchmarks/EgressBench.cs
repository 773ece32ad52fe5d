using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Warden.Core.Egress;

namespace Warden.Benchmarks;

/// <summary>
/// The egress proxy on loopback: a client straight to an origin vs the same client through <see cref="EgressProxy"/>
/// (a listener the bench binds on 127.0.0.1, as the sandbox side binds one in a sandbox's netns). Latency of a 1 KiB GET
/// on a new connection each time (plain HTTP, and CONNECT + TLS), interleaved, and MB/s of one large body.
/// Usage: Warden.Benchmarks --egress [--requests N] [--megabytes N]. Prints a Markdown section.
/// </summary>
internal static class EgressBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var requests = Arg(args, "--requests", 2000);
        var megabytes = Arg(args, "--megabytes", 100);
        using var pki = new BenchPki();
        await using var plain = new Origin(null, megabytes);
        await using var tls = new Origin(pki.Leaf, megabytes);
        var options = new EgressOptions
        {
            Allow = $"origin.test:{plain.Port},origin.test:{tls.Port}",
            Hosts = "origin.test=127.0.0.1",
            AllowPrivate = $"127.0.0.1/32:{plain.Port},127.0.0.1/32:{tls.Port}",
            MaxBytes = long.MaxValue,
            MaxConnections = 1_000_000,
        };
        var settings = EgressSettings.From(options);
        using var meter = new Meter("Warden.Benchmarks.Egress");
        await using var proxy = new EgressProxy(settings, new AddressPolicy(settings.AllowPrivate, new HostAddresses([], watch: false)), null, null,
            new DelegateEgressAuditSink((_, _) => ValueTask.CompletedTask), new EgressMetrics(meter, owns: false), NullLogger.Instance, TimeProvider.System);
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(512);
        var grant = proxy.CreateGrant("bench", "bench", settings.Ceiling);
        await using var serving = proxy.Serve(listener, grant);
        var proxyPort = ((IPEndPoint)listener.LocalEndPoint!).Port;

        var client = new Client(pki.Ca);
        var variants = new (string Name, Func<Task<int>> Run)[]
        {
            ("HTTP direct", () => client.GetAsync(plain.Port, null, "/1k", tlsHost: null)),
            ("HTTP via proxy", () => client.GetAsync(proxyPort, $"GET http://origin.test:{plain.Port}/1k HTTP/1.1\r\nHost: origin.test:{plain.Port}\r\n\r\n", null, tlsHost: null)),
            ("HTTPS direct", () => client.GetAsync(tls.Port, null, "/1k", tlsHost: "origin.test")),
            ("HTTPS via proxy (CONNECT)", () => client.GetAsync(proxyPort, $"CONNECT origin.test:{tls.Port} HTTP/1.1\r\nHost: origin.test:{tls.Port}\r\n\r\n", "/1k", tlsHost: "origin.test")),
        };
        var samples = variants.ToDictionary(v => v.Name, _ => new List<double>());
        // Warm-up (JIT, TLS session machinery), then round-robin so machine noise hits every variant alike.
        for (var i = 0; i < 200; i++) foreach (var v in variants) Check(await v.Run(), 1024, v.Name);
        for (var i = 0; i < requests; i++)
        {
            foreach (var v in variants)
            {
                var started = Stopwatch.GetTimestamp();
                Check(await v.Run(), 1024, v.Name);
                samples[v.Name].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        }

        var bytes = (long)megabytes << 20;
        var throughput = new (string Name, Func<Task<int>> Run)[]
        {
            ("HTTP direct", () => client.GetAsync(plain.Port, null, "/big", tlsHost: null)),
            ("HTTP via proxy", () => client.GetAsync(proxyPort, $"GET http://origin.test:{plain.Port}/big HTTP/1.1\r\nHost: origin.test:{plain.Port}\r\n\r\n", null, tlsHost: null)),
            ("HTTPS direct", () => client.GetAsync(tls.Port, null, "/big", tlsHost: "origin.test")),
            ("HTTPS via proxy (CONNECT)", () => client.GetAsync(proxyPort, $"CONNECT origin.test:{tls.Port} HTTP/1.1\r\nHost: origin.test:{tls.Port}\r\n\r\n", "/big", tlsHost: "origin.test")),
        };
        var rates = throughput.ToDictionary(v => v.Name, _ => 0.0);
        for (var round = 0; round < 3; round++)
        {
            foreach (var v in throughput)
            {
                var started = Stopwatch.GetTimestamp();
                Check(await v.Run(), bytes, v.Name);
                var mbps = megabytes / Stopwatch.GetElapsedTime(started).TotalSeconds;
                rates[v.Name] = Math.Max(rates[v.Name], mbps);
            }
        }

        var md = new StringBuilder();
        md.AppendLine("## Egress proxy (loopback)").AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"A new connection per request; {requests} requests per variant, interleaved, after 200 warm-up rounds. " +
            $"Throughput: best of 3 transfers of {megabytes} MiB. Origin and proxy on 127.0.0.1, in one process; {Environment.ProcessorCount} cores.").AppendLine();
        md.AppendLine("| variant | 1 KiB GET p50 (ms) | p99 (ms) | MB/s |").AppendLine("|---|---|---|---|");
        foreach (var v in variants)
        {
            var s = new Samples();
            foreach (var x in samples[v.Name]) s.Add(x);
            md.AppendLine(CultureInfo.InvariantCulture, $"| {v.Name} | {s.Median:F3} | {s.Percentile(0.99):F3} | {rates[v.Name]:F0} |");
        }
        Console.Write(md.ToString());
        return 0;
    }

    private static int Arg(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    private static void Check(long got, long expected, string variant)
    {
        if (got != expected) throw new InvalidOperationException($"{variant}: got {got} body bytes, expected {expected}");
    }

    /// <summary>A raw client: connect, optionally CONNECT through the proxy, optionally TLS, one GET, read to the end.</summary>
    private sealed class Client(X509Certificate2 ca)
    {
        private readonly byte[] _buffer = new byte[256 * 1024];

        /// <returns>The body's length.</returns>
        public async Task<int> GetAsync(int port, string? proxyHead, string? path, string? tlsHost)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(IPAddress.Loopback, port);
            Stream stream = new NetworkStream(socket, ownsSocket: false);
            if (proxyHead is not null)
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes(proxyHead));
                if (path is null) return await ReadBodyAsync(stream);
                await ReadConnectAnswerAsync(stream);
            }
            if (tlsHost is not null)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = tlsHost,
                    RemoteCertificateValidationCallback = (_, c, _, e) => Trusted(c, e),
                });
                stream = ssl;
            }
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {tlsHost ?? "origin.test"}\r\nConnection: close\r\n\r\n"));
            var n = await ReadBodyAsync(stream);
            await stream.DisposeAsync();
            return n;
        }

        private static async Task ReadConnectAnswerAsync(Stream stream)
        {
            var one = new byte[1];
            var seen = new List<byte>();
            while (!(seen.Count >= 4 && seen[^1] == '\n' && seen[^2] == '\r' && seen[^3] == '\n' && seen[^4] == '\r'))
            {
                if (await stream.ReadAsync(one) == 0) throw new IOException("the proxy closed before answering CONNECT");
                seen.Add(one[0]);
            }
            if (seen[9] != '2') throw new IOException("CONNECT refused: " + Encoding.ASCII.GetString(seen.ToArray()));
        }

        private async Task<int> ReadBodyAsync(Stream stream)
        {
            long total = 0;
            var headEnd = -1;
            var head = new List<byte>();
            while (true)
            {
                var n = await stream.ReadAsync(_buffer);
                if (n == 0) break;
                if (headEnd < 0)
                {
                    head.AddRange(_buffer.AsSpan(0, n));
                    var text = Encoding.ASCII.GetString(head.ToArray());
                    var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                    if (end < 0) continue;
                    headEnd = end + 4;
                    if (!text.StartsWith("HTTP/1.1 200", StringComparison.Ordinal)) throw new IOException(text[..end]);
                    total = head.Count - headEnd;
                    head.Clear();
                    continue;
                }
                total += n;
            }
            return (int)total;
        }

        private bool Trusted(X509Certificate? certificate, SslPolicyErrors errors)
        {
            if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != 0) return false;
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            return chain.Build(leaf);
        }
    }

    /// <summary>An origin on 127.0.0.1:random: <c>/1k</c> = 1024 bytes, <c>/big</c> = the large body; always closes.</summary>
    private sealed class Origin : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly X509Certificate2? _certificate;
        private readonly long _bigBytes;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        public Origin(X509Certificate2? certificate, int megabytes)
        {
            _certificate = certificate;
            _bigBytes = (long)megabytes << 20;
            _listener.Start(512);
            _loop = AcceptAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        private async Task AcceptAsync()
        {
            while (true)
            {
                Socket socket;
                try { socket = await _listener.AcceptSocketAsync(_stop.Token); }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { return; }
                _ = ServeAsync(socket);
            }
        }

        private async Task ServeAsync(Socket socket)
        {
            socket.NoDelay = true;
            Stream stream = new NetworkStream(socket, ownsSocket: true);
            try
            {
                if (_certificate is not null)
                {
                    var ssl = new SslStream(stream);
                    await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate });
                    stream = ssl;
                }
                var head = new List<byte>();
                var buffer = new byte[4096];
                while (Encoding.ASCII.GetString(head.ToArray()).IndexOf("\r\n\r\n", StringComparison.Ordinal) < 0)
                {
                    var n = await stream.ReadAsync(buffer);
                    if (n == 0) return;
                    head.AddRange(buffer.AsSpan(0, n));
                }
                var big = Encoding.ASCII.GetString(head.ToArray()).StartsWith("GET /big", StringComparison.Ordinal);
                var length = big ? _bigBytes : 1024;
                await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"));
                var chunk = new byte[256 * 1024];
                for (long sent = 0; sent < length; sent += chunk.Length)
                    await stream.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, length - sent)));
            }
            catch (Exception e) when (e is IOException or SocketException or System.Security.Authentication.AuthenticationException)
            {
            }
            finally
            {
                await stream.DisposeAsync();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _loop;
            _stop.Dispose();
        }
    }

    /// <summary>A throw-away CA and a leaf for origin.test, in memory.</summary>
    private sealed class BenchPki : IDisposable
    {
        private readonly ECDsa _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        public BenchPki()
        {
            var caRequest = new CertificateRequest("CN=Warden egress bench CA", _caKey, HashAlgorithmName.SHA256);
            caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
            Ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=origin.test", key, HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName("origin.test");
            request.CertificateExtensions.Add(san.Build());
            using var signed = request.Create(Ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(12), RandomNumberGenerator.GetBytes(8));
            using var withKey = signed.CopyWithPrivateKey(key);
            Leaf = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        }

        public X509Certificate2 Ca { get; }

        public X509Certificate2 Leaf { get; }

        public void Dispose()
        {
            Leaf.Dispose();
            Ca.Dispose();
            _caKey.Dispose();
        }
    }
}
