using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Warden.Sandbox.Tests.Egress;

/// <summary>
/// A plain HTTP origin on 127.0.0.1 for the egress tests: answers every request with its own request head as the body
/// (so a test sees the headers that arrived), and logs every connection it accepted, so "nothing reached it" is a fact
/// a test can assert. Serves <c>/simple/...</c> and wheels from <see cref="Files"/> for the pip test.
/// </summary>
internal sealed class OriginServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public OriginServer()
    {
        _listener.Start();
        _loop = Task.Run(AcceptLoopAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public string PortText => Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>Every request head received, in order (one per connection: the server closes after answering).</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Connections accepted, whether or not a request head followed.</summary>
    public int Connections => _connections;

    /// <summary>Paths served with fixed bodies (the PEP 503 index and the wheel); everything else echoes the head.</summary>
    public ConcurrentDictionary<string, (string ContentType, byte[] Body)> Files { get; } = new(StringComparer.Ordinal);

    private int _connections;

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            Interlocked.Increment(ref _connections);
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using (client)
        {
            try
            {
                var head = await ReadHeadAsync(client, _stop.Token);
                if (head.Length == 0) return;
                Requests.Enqueue(head);
                var target = head.Split(' ', 3) is { Length: 3 } parts ? parts[1] : "/";
                var (type, body) = Files.TryGetValue(target, out var file) ? file : ("text/plain", Encoding.ASCII.GetBytes(head));
                var response = Encoding.ASCII.GetBytes(
                    $"HTTP/1.1 200 OK\r\nContent-Type: {type}\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
                await client.SendAsync(response, _stop.Token);
                await client.SendAsync(body, _stop.Token);
                client.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or IOException)
            {
            }
        }
    }

    private static async Task<string> ReadHeadAsync(Socket client, CancellationToken ct)
    {
        var buffer = new byte[32 * 1024];
        int used = 0;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        while (used < buffer.Length)
        {
            int n = await client.ReceiveAsync(buffer.AsMemory(used), timeout.Token);
            if (n == 0) break;
            used += n;
            var text = Encoding.ASCII.GetString(buffer, 0, used);
            int end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0) return text[..end];
        }
        return "";
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _loop;
        _stop.Dispose();
    }
}
