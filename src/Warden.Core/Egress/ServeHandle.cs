using System.Collections.Concurrent;
using System.Net.Sockets;

namespace Warden.Core.Egress;

/// <summary>One listener served for one grant: the accept loop and the connections it started.</summary>
internal sealed class ServeHandle : IAsyncDisposable
{
    private readonly EgressProxy _proxy;
    private readonly Socket _listener;
    private readonly EgressGrant _grant;
    private readonly CancellationTokenSource _stop;
    private readonly ConcurrentDictionary<Task, byte> _connections = new();
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    public ServeHandle(EgressProxy proxy, Socket listener, EgressGrant grant)
    {
        _proxy = proxy;
        _listener = listener;
        _grant = grant;
        // Not linked to the grant: after a revocation or a cap, new connections are still accepted, and answered 403.
        _stop = CancellationTokenSource.CreateLinkedTokenSource(proxy.Stopping);
    }

    public void Start() => _loop = Task.Run(AcceptLoopAsync);

    private async Task AcceptLoopAsync()
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { break; }
            catch (ObjectDisposedException) { break; }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.OperationAborted or SocketError.Interrupted or SocketError.InvalidArgument or SocketError.NotSocket)
            {
                break; // the owner closed the listener
            }
            catch (SocketException)
            {
                // ECONNABORTED and the like concern one pending connection, not the listener.
                continue;
            }
            var connection = new EgressConnection(_proxy, _grant, client);
            var task = connection.RunAsync(token);
            _connections[task] = 0;
            _ = task.ContinueWith((t, state) => ((ConcurrentDictionary<Task, byte>)state!).TryRemove(t, out _),
                _connections, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        // Connections end themselves on the token (their sockets are closed by it); wait so that none outlives the handle.
        await Task.WhenAll(_connections.Keys).ConfigureAwait(false);
        _proxy.Forget(this);
        _stop.Dispose();
    }
}
