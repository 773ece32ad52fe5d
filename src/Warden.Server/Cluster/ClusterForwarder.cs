using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Warden.Server.Diagnostics;

namespace Warden.Server.Cluster;

/// <summary>
/// Sends an HTTP request to the replica that owns its session, streaming the body both ways (server-sent events and
/// long cells pass through as they are produced), with the caller's own credentials: the owner authenticates and applies
/// quotas again, exactly as if the client had reached it directly. A request that cannot reach the owner, or whose owner
/// fails or is declared dead while it waits, is answered 503 naming the owner; once the answer has started, the only
/// honest signal left is to abort the client's connection.
/// </summary>
internal sealed partial class ClusterForwarder(ClusterTransport transport, ClusterMembership membership, ILogger<ClusterForwarder> logger)
{
    /// <summary>Null once the owner's answer has been passed on; otherwise why the owner could not answer (nothing was written).</summary>
    public async Task<string?> ForwardAsync(HttpContext context, ReplicaRow owner)
    {
        var aborted = context.RequestAborted;
        using var lost = CancellationTokenSource.CreateLinkedTokenSource(aborted, membership.WatchLoss(owner));
        using var request = transport.CreateRequest(context, owner, withBody: true);
        HttpResponseMessage response;
        try
        {
            response = await transport.Invoker.SendAsync(request, lost.Token);
        }
        catch (Exception e) when (!aborted.IsCancellationRequested && e is HttpRequestException or OperationCanceledException or IOException)
        {
            Log.ForwardFailed(logger, owner.Id, context.Request.Path, e.Message);
            return Failure(e, lost.IsCancellationRequested);
        }
        using (response)
        {
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
                if (ClusterTransport.IsCopied(name) || name.Equals(ClusterTransport.ReplicaHeader, StringComparison.OrdinalIgnoreCase))
                    context.Response.Headers[name] = values.ToArray();
            context.Response.Headers[ClusterTransport.ViaHeader] = transport.Self.ReplicaId;
            try
            {
                await using var body = await response.Content.ReadAsStreamAsync(lost.Token);
                await body.CopyToAsync(context.Response.Body, lost.Token);
            }
            catch (Exception e) when (!aborted.IsCancellationRequested && e is HttpRequestException or OperationCanceledException or IOException)
            {
                Log.ForwardFailed(logger, owner.Id, context.Request.Path, e.Message);
                if (context.Response.HasStarted)
                {
                    context.Abort();
                    return null;
                }
                context.Response.Headers.Clear();
                return Failure(e, lost.IsCancellationRequested);
            }
        }
        return null;
    }

    /// <summary>What went wrong, for the problem detail: "refused the connection", "did not answer within 2 s"…</summary>
    public static string Failure(Exception e, bool ownerLost)
    {
        if (ownerLost && e is OperationCanceledException) return "stopped sending heartbeats while this request waited";
        if (e is HttpRequestException { HttpRequestError: HttpRequestError.ResponseEnded })
            return "closed the connection before answering (it crashed, was killed, or is restarting)";
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is IOException { InnerException: SocketException { SocketErrorCode: SocketError.ConnectionReset } })
                return "reset the connection before answering (it crashed, was killed, or is restarting)";
            if (inner is SocketException socket)
                return socket.SocketErrorCode == SocketError.ConnectionRefused ? "refused the connection (nothing listens there any more)" : $"could not be reached ({socket.SocketErrorCode})";
            if (inner is TimeoutException) return "did not accept a connection in time";
        }
        return e is OperationCanceledException ? "did not accept a connection in time" : $"failed while answering ({e.Message})";
    }

    private static partial class Log
    {
        [LoggerMessage(EventIds.ClusterForwardFailed, LogLevel.Warning, "Forwarding {Path} to replica {ReplicaId} failed: {Reason}")]
        public static partial void ForwardFailed(ILogger logger, string replicaId, string path, string reason);
    }
}
