using System.Collections.Concurrent;
using System.Net.WebSockets;

namespace Warden.Server.JupyterApi;

/// <summary>The open WebSockets of every kernel: iopub broadcasts, the REST model's connection count, closing on shutdown.</summary>
internal sealed class KernelConnections
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<KernelConnection, byte>> _byKernel = new(StringComparer.Ordinal);

    public void Add(KernelConnection connection) =>
        _byKernel.GetOrAdd(connection.KernelId, _ => new()).TryAdd(connection, 0);

    public void Remove(KernelConnection connection)
    {
        if (_byKernel.TryGetValue(connection.KernelId, out var set))
        {
            set.TryRemove(connection, out _);
            if (set.IsEmpty) _byKernel.TryRemove(new KeyValuePair<string, ConcurrentDictionary<KernelConnection, byte>>(connection.KernelId, set));
        }
    }

    public int Count(string kernelId) => _byKernel.TryGetValue(kernelId, out var set) ? set.Count : 0;

    public Task BroadcastAsync(string kernelId, JupyterMessage message) =>
        _byKernel.TryGetValue(kernelId, out var set) ? Task.WhenAll(set.Keys.Select(c => c.SendAsync(message))) : Task.CompletedTask;

    public Task CloseAllAsync(string kernelId) =>
        _byKernel.TryGetValue(kernelId, out var set)
            ? Task.WhenAll(set.Keys.Select(c => c.CloseAsync(WebSocketCloseStatus.NormalClosure, "kernel shut down")))
            : Task.CompletedTask;
}
