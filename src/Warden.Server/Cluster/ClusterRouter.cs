using System.Data.Common;
using Microsoft.AspNetCore.Http;
using Warden.Core.Sessions;

namespace Warden.Server.Cluster;

/// <summary>
/// Middleware (cluster mode): a request for state another replica holds is sent there, transparently, HTTP and WebSocket
/// alike; a request for state whose replica is gone is answered 410. Sessions are found from the owner tag in their id
/// and the in-memory view of the replicas (the directory only for ids the view does not know yet); a user's terminal
/// from the directory, where the first replica to see the user claims it. A forwarded request is never forwarded again:
/// the owner serves it or says why not, so routing cannot loop.
/// </summary>
internal sealed class ClusterRouter(RequestDelegate next, ClusterMembership membership, ClusterDirectory directory, ClusterForwarder forwarder,
    WebSocketRelay relay, ClusterListMerger lists, SessionManager sessions)
{
    private readonly ReplicaIdentity _self = membership.Self;

    public async Task InvokeAsync(HttpContext context)
    {
        var endpoint = context.GetEndpoint();
        var forwardedTo = context.Request.Headers[ClusterTransport.OwnerHeader].ToString();
        if (forwardedTo.Length > 0)
        {
            // Another replica sent this here: serve it (whatever the outcome), unless it was meant for someone else.
            if (forwardedTo == ClusterTransport.OwnerValue(_self.ReplicaId, _self.Incarnation)) await next(context);
            else await ClusterProblems.MisdirectedAsync(context, forwardedTo.Split('/')[0], _self.ReplicaId);
            return;
        }
        if (endpoint?.Metadata.GetMetadata<OwnedResource>() is { } owned)
        {
            await RouteAsync(context, owned);
            return;
        }
        if (endpoint?.Metadata.GetMetadata<ClusterWideList>() is not null && context.Request.Headers[ClusterTransport.ForwardedByHeader].Count == 0)
        {
            await lists.MergeAsync(context, next);
            return;
        }
        await next(context);
    }

    private async Task RouteAsync(HttpContext context, OwnedResource owned)
    {
        if (owned.Authorize is { } authorize && !await authorize(context))
        {
            await next(context);
            return;
        }
        var key = await owned.KeyOf(context);
        if (key is null)
        {
            await next(context);
            return;
        }
        var what = owned.Kind == ResourceKind.Session ? $"{owned.Noun} {key}" : owned.Noun;
        Route route;
        try
        {
            route = owned.Kind == ResourceKind.Session ? await SessionRouteAsync(key, context.RequestAborted)
                : await TerminalRouteAsync(key, context.RequestAborted);
        }
        catch (Exception e) when (e is DbException or TimeoutException && !context.RequestAborted.IsCancellationRequested)
        {
            await ClusterProblems.DirectoryUnavailableAsync(context, what);
            return;
        }
        if (route.Owner is { } owner)
        {
            var failure = context.WebSockets.IsWebSocketRequest ? await relay.RelayAsync(context, owner, what) : await forwarder.ForwardAsync(context, owner);
            if (failure is not null) await UnreachableAsync(context, owned, what, owner, route.Entry, failure);
        }
        else if (route.GoneFrom is { } replica) await ClusterProblems.GoneAsync(context, what, replica, route.Reason!, owned.Kind == ResourceKind.Terminal);
        else await next(context);
    }

    /// <summary>
    /// The owner did not answer. The in-memory view may be a heartbeat behind: ask the directory whether the owner has
    /// meanwhile stopped (a graceful shutdown says so at once) or been declared dead, and answer 410 then; else 503.
    /// </summary>
    private async Task UnreachableAsync(HttpContext context, OwnedResource owned, string what, ReplicaRow owner, DirectoryEntry? entry, string failure)
    {
        string? reason = null;
        try
        {
            var fresh = await directory.FindReplicaAsync(owner.Id, CancellationToken.None);
            reason = fresh is null ? "is no longer registered"
                : fresh.Incarnation != owner.Incarnation ? new DirectoryEntry(owned.Kind, "", owner.Id, owner.Incarnation, null, fresh).GoneReason(membership.DeadAfter)
                : fresh.StoppedAt is not null ? fresh.GoneReason(membership.DeadAfter) : null;
            if (reason is not null && entry is not null && owned.Kind == ResourceKind.Terminal) await directory.DropAsync(entry, CancellationToken.None);
        }
        catch (Exception e) when (e is DbException or TimeoutException)
        {
            // The 503 below is still true.
        }
        if (reason is not null) await ClusterProblems.GoneAsync(context, what, owner.Id, reason, owned.Kind == ResourceKind.Terminal);
        else await ClusterProblems.UnreachableAsync(context, what, owner, failure, membership.DeadAfter);
    }

    private async Task<Route> SessionRouteAsync(string id, CancellationToken cancellationToken)
    {
        if (sessions.Holds(id)) return Route.Local;
        if (OwnerTag.TryParse(id, out var tag))
        {
            // Ours but not here: deleted or reaped; the endpoint says 404.
            if (tag == _self.Tag) return Route.Local;
            if (membership.FindByTag(tag) is { } known)
                return membership.IsLive(known) ? new Route(known, null, null) : new Route(null, known.Id, membership.GoneReason(known));
        }
        // An id the view does not know: a replica that joined since the last refresh, or not a cluster id at all.
        var entry = await directory.LookupAsync(ResourceKind.Session, id, cancellationToken);
        if (entry is null || IsOurs(entry)) return Route.Local;
        var reason = membership.GoneReason(entry);
        return reason is null ? new Route(entry.Owner, null, null, entry) : new Route(null, entry.ReplicaId, reason);
    }

    private async Task<Route> TerminalRouteAsync(string key, CancellationToken cancellationToken)
    {
        if (membership.OwnsTerminal(key)) return Route.Local;
        var entry = await directory.ClaimTerminalAsync(key, cancellationToken);
        if (IsOurs(entry))
        {
            membership.OwnTerminal(key);
            return Route.Local;
        }
        var reason = membership.GoneReason(entry);
        if (reason is null) return new Route(entry.Owner, null, null, entry);
        // Tell the user once that their sandbox is lost; the next request claims a new one.
        await directory.DropAsync(entry, cancellationToken);
        return new Route(null, entry.ReplicaId, reason);
    }

    private bool IsOurs(DirectoryEntry entry) => entry.ReplicaId == _self.ReplicaId && entry.Incarnation == _self.Incarnation;

    /// <summary>Serve here (no owner, not gone), forward to <see cref="Owner"/>, or answer 410 naming <see cref="GoneFrom"/>.</summary>
    private sealed record Route(ReplicaRow? Owner, string? GoneFrom, string? Reason, DirectoryEntry? Entry = null)
    {
        public static readonly Route Local = new(null, null, null);
    }
}
