using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Warden.Sessions.Tests.Egress;

/// <summary>
/// A plain HTTP origin on 127.0.0.1 for the long-lived egress tests: answers each request with its request line and
/// logs every connection it accepted, so "nothing else reached it" is something a test can assert.
/// </summary>
internal sealed class EchoOrigin : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _connections;

    public EchoOrigin()
    {
        _listener.Start();
        _loop = Task.Run(AcceptLoopAsync);
    }

    public string Port => ((IPEndPoint)_listener.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>Request lines received, in order.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    public int Connections => Volatile.Read(ref _connections);

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
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                var buffer = new byte[16 * 1024];
                int used = 0;
                string? head = null;
                while (used < buffer.Length && head is null)
                {
                    int n = await client.ReceiveAsync(buffer.AsMemory(used), timeout.Token);
                    if (n == 0) break;
                    used += n;
                    var text = Encoding.ASCII.GetString(buffer, 0, used);
                    int end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                    if (end >= 0) head = text[..end];
                }
                if (head is null) return;
                var line = head.Split("\r\n")[0];
                Requests.Enqueue(line);
                var body = Encoding.ASCII.GetBytes(line + "\n");
                await client.SendAsync(Encoding.ASCII.GetBytes(
                    $"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n"), timeout.Token);
                await client.SendAsync(body, timeout.Token);
                client.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or IOException)
            {
            }
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
