using System.Net;
using System.Net.Sockets;

namespace Warden.Core.Egress;

/// <summary>Resolves a policy-checked name to addresses, once per connection (the answer is vetted, then dialled).</summary>
public interface IEgressResolver
{
    ValueTask<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken);
}

/// <summary>Dials one vetted address. It takes an <see cref="IPEndPoint"/>, never a name, so nothing can resolve again.</summary>
public interface IEgressConnector
{
    ValueTask<Socket> ConnectAsync(IPEndPoint endpoint, CancellationToken cancellationToken);
}

/// <summary><c>WARDEN_EGRESS_HOSTS</c> first, else the host's resolver.</summary>
internal sealed class EgressResolver(EgressSettings settings) : IEgressResolver
{
    public async ValueTask<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        if (settings.Hosts.TryGetValue(host, out var overridden)) return overridden;
        return await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
    }
}

internal sealed class SocketEgressConnector : IEgressConnector
{
    public async ValueTask<Socket> ConnectAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
