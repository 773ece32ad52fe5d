using System.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Ownership;
using Warden.Core.Terminals;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// The authenticated principal of a request (tenant and Open WebUI user) and their own terminal, bound as a handler parameter. Binding runs the
/// identity check (<see cref="TerminalIdentity"/>), so no handler can run for an unauthenticated caller.
/// </summary>
internal sealed record TerminalCaller(Principal Owner, string? SessionId, UserTerminal Terminal)
{
    /// <summary>Endpoint metadata of every route that acts on the caller's terminal: in cluster mode it is served where the user's terminal lives.</summary>
    /// <remarks>Under a policy's prefix the key is the (policy, user) terminal's, which may live on another replica than the user's own.</remarks>
    public static readonly Cluster.OwnedResource Owned = Cluster.OwnedResource.Terminal(async context => await OwnerOfAsync(context).ConfigureAwait(false),
        TerminalPolicies.PolicyRouting.PolicyOf);

    private static readonly object UserItem = new();

    public static async ValueTask<TerminalCaller?> BindAsync(HttpContext context, ParameterInfo parameter) => await ForRequestAsync(context).ConfigureAwait(false);

    /// <summary>The caller of a request whose handler binds by hand (a route that is also a WebSocket).</summary>
    public static async ValueTask<TerminalCaller> ForRequestAsync(HttpContext context)
    {
        var owner = await OwnerOfAsync(context).ConfigureAwait(false);
        var session = context.Request.Headers["X-Session-Id"].ToString();
        var terminal = context.RequestServices.GetRequiredService<TerminalManager>().Get(owner, TerminalPolicies.PolicyRouting.PolicyOf(context));
        return new TerminalCaller(owner, session.Length == 0 ? null : session, terminal);
    }

    /// <summary>The authenticated principal (checked once per request: routing asks first in cluster mode, then binding).</summary>
    private static async ValueTask<Principal> OwnerOfAsync(HttpContext context)
    {
        if (context.Items.TryGetValue(UserItem, out var known) && known is Principal owner) return owner;
        var identity = context.RequestServices.GetRequiredService<TerminalIdentity>();
        owner = await identity.AuthenticateAsync(context, context.RequestAborted).ConfigureAwait(false);
        context.Items[UserItem] = owner;
        return owner;
    }
}

/// <summary>Who is calling could not be established (401) or may not use the terminal (403); <see cref="Hosting.WardenExceptionHandler"/> answers.</summary>
internal sealed class TerminalIdentityException(int status, string kind, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Kind { get; } = kind;
}
