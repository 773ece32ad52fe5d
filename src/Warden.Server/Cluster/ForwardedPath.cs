using Microsoft.AspNetCore.Http;

namespace Warden.Server.Cluster;

/// <summary>
/// The path a request is forwarded to its owner under. Usually the request's own path; a middleware that rewrites the path
/// before routing (the orchestrator's <c>/p/{policy}/…</c> prefix) records the path the client sent, because the owner
/// must see the same request: forwarded as rewritten, a policy's request would reach the user's plain terminal there.
/// </summary>
public static class ForwardedPath
{
    private static readonly object Item = new();

    /// <summary>Records <paramref name="original"/> as the path to forward (call before rewriting the request's path).</summary>
    public static void Keep(HttpContext context, PathString original)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Items[Item] = original;
    }

    /// <summary>The path (without PathBase) to send to the owner.</summary>
    public static PathString Of(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Items.TryGetValue(Item, out var kept) && kept is PathString original ? original : context.Request.Path;
    }
}
