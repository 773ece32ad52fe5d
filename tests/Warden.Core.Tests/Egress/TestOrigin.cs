using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Warden.Core.Tests.Egress;

/// <summary>
/// An origin on 127.0.0.1:random. <c>/echo</c> answers with the request head it received; <c>/bytes/N</c> with N
/// bytes; <c>/hold</c> answers its head and then keeps the connection open. With a certificate, it speaks TLS first.
/// Every request head it sees is kept, so a test can say that nothing reached it.
/// </summary>
internal sealed class TestOrigin : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly X509Certificate2? _certificate;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly ConcurrentBag<Task> _connections = [];

    public TestOrigin(X509Certificate2? certificate = null)
    {
        _certificate = certificate;
        _listener.Start();
        _loop = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public ConcurrentQueue<string> Heads { get; } = new();

    public int Accepted;

    /// <summary>Completed when a <c>/hold</c> connection sees its client close (the proxy's side of the tunnel).</summary>
    public TaskCompletionSource HoldClosed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { return; }
            Interlocked.Increment(ref Accepted);
            _connections.Add(ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        try
        {
            Stream stream = client.GetStream();
            if (_certificate is not null)
            {
                var ssl = new SslStream(stream);
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, _stop.Token);
                stream = ssl;
            }
            var head = await ReadHeadAsync(stream);
            if (head is null) return;
            Heads.Enqueue(head);
            var target = head.Split(' ')[1];
            var contentLength = head.Split("\r\n").Select(l => l.Split(':', 2)).Where(p => p.Length == 2 && p[0].Trim().Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                .Select(p => int.Parse(p[1].Trim(), System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
            var body = new byte[contentLength];
            await stream.ReadExactlyAsync(body, _stop.Token);
            if (head.Contains("\r\nTransfer-Encoding: chunked\r\n", StringComparison.OrdinalIgnoreCase))
                body = await ReadChunkedRawAsync(stream);
            if (target.StartsWith("/bytes/", StringComparison.Ordinal))
            {
                var n = long.Parse(target["/bytes/".Length..], System.Globalization.CultureInfo.InvariantCulture);
                await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n"), _stop.Token);
                var chunk = new byte[64 * 1024];
                for (long sent = 0; sent < n; sent += chunk.Length)
                    await stream.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, n - sent)), _stop.Token);
            }
            else if (target == "/hold")
            {
                await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nx"u8.ToArray(), _stop.Token);
                var buffer = new byte[1];
                try { while (await stream.ReadAsync(buffer, _stop.Token) > 0) { } }
                finally { HoldClosed.TrySetResult(); }
            }
            else
            {
                var echoed = Encoding.ASCII.GetBytes(head + Encoding.ASCII.GetString(body));
                await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {echoed.Length}\r\nConnection: close\r\n\r\n"), _stop.Token);
                await stream.WriteAsync(echoed, _stop.Token);
            }
            await stream.FlushAsync(_stop.Token);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or ObjectDisposedException)
        {
        }
    }

    // The raw chunked body up to its last chunk (the proxy sends it canonical: no trailers), kept as received.
    private async Task<byte[]> ReadChunkedRawAsync(Stream stream)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (!(bytes.Count >= 5 && (bytes.Count == 5 || bytes[^6] == '\n') && bytes[^5] == '0' && bytes[^4] == '\r' && bytes[^3] == '\n' && bytes[^2] == '\r' && bytes[^1] == '\n'))
        {
            if (await stream.ReadAsync(one, _stop.Token) == 0) break;
            bytes.Add(one[0]);
        }
        return [.. bytes];
    }

    private async Task<string?> ReadHeadAsync(Stream stream)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (bytes.Count < 64 * 1024)
        {
            if (await stream.ReadAsync(one, _stop.Token) == 0) return null;
            bytes.Add(one[0]);
            if (bytes.Count >= 4 && bytes[^1] == '\n' && bytes[^2] == '\r' && bytes[^3] == '\n' && bytes[^4] == '\r')
                return Encoding.ASCII.GetString(bytes.ToArray());
        }
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _loop;
        await Task.WhenAll(_connections).WaitAsync(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }
}
