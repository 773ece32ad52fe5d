using System.Buffers;
using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Warden.Server.Diagnostics;

namespace Warden.Server.Cluster;

/// <summary>
/// Joins a client's WebSocket (a Jupyter kernel's channels) to the replica that owns the kernel: the handshake with the
/// owner happens first, with the client's credentials and sub-protocols, so whatever the owner answers (403, 404, the
/// binary Jupyter protocol or plain JSON) is what the client gets. Then frames are copied unchanged both ways. If the
/// owner goes away the client's socket is closed with 1011 naming it, never left open and silent.
/// </summary>
internal sealed partial class WebSocketRelay(ClusterTransport transport, ClusterMembership membership, ILogger<WebSocketRelay> logger)
{
    private const int BufferBytes = 64 * 1024;

    // Set by the WebSocket handshake itself; copying them would break it.
    private static readonly HashSet<string> HandshakeHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol", "Content-Length",
    };

    /// <summary>Null once the owner answered the handshake (and the relay ended); otherwise why it could not be reached (nothing was written).</summary>
    public async Task<string?> RelayAsync(HttpContext context, ReplicaRow owner, string what)
    {
        var aborted = context.RequestAborted;
        using var lost = CancellationTokenSource.CreateLinkedTokenSource(aborted, membership.WatchLoss(owner));
        using var upstream = new ClientWebSocket();
        upstream.Options.CollectHttpResponseDetails = true;
        upstream.Options.KeepAliveInterval = TimeSpan.FromSeconds(30);
        foreach (var protocol in context.WebSockets.WebSocketRequestedProtocols) upstream.Options.AddSubProtocol(protocol);
        foreach (var (name, values) in context.Request.Headers)
            if (ClusterTransport.IsCopied(name) && !HandshakeHeaders.Contains(name)) upstream.Options.SetRequestHeader(name, values.ToString());
        foreach (var (name, value) in transport.MarkerHeaders(context, owner)) upstream.Options.SetRequestHeader(name, value);
        var target = new UriBuilder(new Uri(owner.AdvertiseUrl, ForwardedPath.Of(context).ToUriComponent() + context.Request.QueryString.ToUriComponent()))
        {
            Scheme = owner.AdvertiseUrl.Scheme == "https" ? "wss" : "ws",
        }.Uri;
        try
        {
            await upstream.ConnectAsync(target, transport.Invoker, lost.Token);
        }
        catch (Exception e) when (!aborted.IsCancellationRequested && e is WebSocketException or HttpRequestException or OperationCanceledException or IOException)
        {
            Log.RelayFailed(logger, owner.Id, context.Request.Path, e.Message);
            if (upstream.HttpStatusCode is 0 or HttpStatusCode.SwitchingProtocols) return ClusterForwarder.Failure(e, lost.IsCancellationRequested);
            await ClusterProblems.RefusedAsync(context, (int)upstream.HttpStatusCode, what, owner.Id);
            return null;
        }
        context.Response.Headers[ClusterTransport.ReplicaHeader] = owner.Id;
        context.Response.Headers[ClusterTransport.ViaHeader] = transport.Self.ReplicaId;
        using var client = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            SubProtocol = upstream.SubProtocol, KeepAliveInterval = TimeSpan.FromSeconds(30),
        });
        await PumpBothAsync(client, upstream, owner, lost.Token);
        return null;
    }

    private async Task PumpBothAsync(WebSocket client, WebSocket upstream, ReplicaRow owner, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var toOwner = PumpAsync(client, upstream, stop.Token);
        var toClient = PumpAsync(upstream, client, stop.Token);
        var first = await Task.WhenAny(toOwner, toClient);
        bool ownerFailed = (first == toClient && !first.Result) || cancellationToken.IsCancellationRequested;
        if (ownerFailed && client.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            // The owner went away (crashed, was killed, or was declared dead): say so in the close frame rather than just dropping the client.
            Log.RelayFailed(logger, owner.Id, "(socket)", "the owner's side of the socket ended without a close");
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await client.CloseAsync(WebSocketCloseStatus.InternalServerError, Truncate($"replica {owner.Id} holding this kernel went away"), timeout.Token);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException) { }
        }
        // The other direction normally ends with the close handshake; give it a moment, then stop it.
        await Task.WhenAny(first == toOwner ? toClient : toOwner, Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None));
        await stop.CancelAsync();
        await Task.WhenAll(toOwner, toClient);
        upstream.Abort();
    }

    /// <summary>Copies messages until a close (forwarded, then true) or a failure of either socket (false).</summary>
    private static async Task<bool> PumpAsync(WebSocket from, WebSocket to, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BufferBytes);
        try
        {
            while (true)
            {
                var received = await from.ReceiveAsync(buffer.AsMemory(), cancellationToken);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    if (to.State is WebSocketState.Open or WebSocketState.CloseReceived)
                        await to.CloseOutputAsync(from.CloseStatus ?? WebSocketCloseStatus.NormalClosure, from.CloseStatusDescription, cancellationToken);
                    return true;
                }
                await to.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, cancellationToken);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static string Truncate(string text) => text.Length <= 120 ? text : text[..120];

    private static partial class Log
    {
        [LoggerMessage(EventIds.ClusterRelayFailed, LogLevel.Warning, "Relaying the WebSocket {Path} to replica {ReplicaId} failed: {Reason}")]
        public static partial void RelayFailed(ILogger logger, string replicaId, string path, string reason);
    }
}
