using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Warden.Core.Ownership;
using Warden.Core.Workspaces;

namespace Warden.Server.Cluster;

/// <summary>
/// Endpoint metadata: requests to this endpoint act on state that lives on one replica (a session, a kernel, a user's
/// terminal sandbox). In cluster mode <see cref="ClusterRouter"/> sends them to that replica; on a single server it is inert.
/// </summary>
public sealed class OwnedResource
{
    private OwnedResource(string kind, string noun, Func<HttpContext, ValueTask<string?>> keyOf, Func<HttpContext, ValueTask<bool>>? authorize)
    {
        Kind = kind;
        Noun = noun;
        KeyOf = keyOf;
        Authorize = authorize;
    }

    /// <summary><see cref="ResourceKind"/>.</summary>
    public string Kind { get; }

    /// <summary>How problem details name it ("Kernel", "Session", "Your terminal sandbox").</summary>
    public string Noun { get; }

    /// <summary>The session id, or the key of the principal's terminal (<see cref="UserWorkspaces.KeyOf"/>), the request is for;
    /// null lets the endpoint answer (it will refuse the request).</summary>
    public Func<HttpContext, ValueTask<string?>> KeyOf { get; }

    /// <summary>Checked before anything is looked up or forwarded, for endpoints that authenticate callers themselves.</summary>
    public Func<HttpContext, ValueTask<bool>>? Authorize { get; }

    /// <summary>A session (or Jupyter kernel) named by the route value <paramref name="routeParameter"/>.</summary>
    public static OwnedResource Session(string noun, string routeParameter = "id", Func<HttpContext, ValueTask<bool>>? authorize = null) =>
        new(ResourceKind.Session, noun, context => ValueTask.FromResult(context.GetRouteValue(routeParameter) as string), authorize);

    /// <summary>The terminal of the principal <paramref name="ownerOf"/> authenticates (it throws for a caller who is not one).</summary>
    /// <param name="policyOf">The orchestrator policy the request is under (its terminal is another one), or null.</param>
    /// <remarks>A policy whose users share one home is routed by that home's key: its users are served where it is mounted.</remarks>
    public static OwnedResource Terminal(Func<HttpContext, ValueTask<Principal>> ownerOf, Func<HttpContext, Core.Terminals.TerminalPolicy?>? policyOf = null) =>
        new(ResourceKind.Terminal, "Your terminal sandbox",
            async context => UserWorkspaces.RoutingKeyOf(await ownerOf(context).ConfigureAwait(false), policyOf?.Invoke(context)), null);
}

/// <summary>Endpoint metadata: a list of sessions that, in cluster mode, shows every replica's (<see cref="ClusterListMerger"/>).</summary>
public sealed class ClusterWideList
{
    public static readonly ClusterWideList Instance = new();
}
