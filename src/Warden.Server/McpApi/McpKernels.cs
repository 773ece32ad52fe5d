using System.Collections.Concurrent;
using Warden.Core.Ownership;
using Warden.Core.Sessions;

namespace Warden.Server.McpApi;

/// <summary>
/// Which Warden session is a principal's python kernel for one conversation. The conversation is the client's
/// <c>X-Session-Id</c> (Open WebUI's chat) when it sends one, else the MCP session. Kernels are ordinary sessions owned by
/// the principal: the session caps count them and the idle timeout reaps them; a reaped kernel is replaced on next use.
/// </summary>
internal sealed class McpKernels(SessionManager sessions)
{
    private readonly ConcurrentDictionary<(Principal Owner, string Conversation), string> _kernels = new();
    // Striped: a fixed set of gates, so the conversations seen over the server's life cost no memory once their kernels are gone.
    private readonly SemaphoreSlim[] _gates = Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1)).ToArray();

    public async Task<Session> GetOrStartAsync(Requester requester, string conversation, CancellationToken cancellationToken)
    {
        var key = (requester.Principal, conversation);
        var gate = _gates[(key.GetHashCode() & int.MaxValue) % _gates.Length];
        // One start per conversation: two calls racing on a new chat share one kernel instead of starting two.
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_kernels.TryGetValue(key, out var id) && sessions.Holds(id))
                return sessions.Get(id, requester);
            Forget();
            var session = await sessions.CreateAsync(new SessionRequest("python", requester.Principal), cancellationToken).ConfigureAwait(false);
            _kernels[key] = session.Id;
            return session;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Drops the entries of kernels that are gone (reaped, deleted), so the map stays as small as the live sessions.</summary>
    private void Forget()
    {
        foreach (var (key, id) in _kernels)
            if (!sessions.Holds(id)) _kernels.TryRemove(new KeyValuePair<(Principal, string), string>(key, id));
    }
}
