using System.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Terminals;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// The authenticated Open WebUI user of a request and their terminal, bound as a handler parameter. Binding runs the
/// identity check (<see cref="TerminalIdentity"/>), so no handler can run for an unauthenticated caller.
/// </summary>
internal sealed record TerminalCaller(string UserId, string? SessionId, UserTerminal Terminal)
{
    /// <summary>Endpoint metadata of every route that acts on the caller's terminal: in cluster mode it is served where the user's terminal lives.</summary>
    public static readonly Cluster.OwnedResource Owned = Cluster.OwnedResource.Terminal(async context => await UserOfAsync(context).ConfigureAwait(false));

    private static readonly object UserItem = new();

    public static async ValueTask<TerminalCaller?> BindAsync(HttpContext context, ParameterInfo parameter)
    {
        var userId = await UserOfAsync(context).ConfigureAwait(false);
        var session = context.Request.Headers["X-Session-Id"].ToString();
        var terminal = context.RequestServices.GetRequiredService<TerminalManager>().Get(userId);
        return new TerminalCaller(userId, session.Length == 0 ? null : session, terminal);
    }

    /// <summary>The authenticated user (checked once per request: routing asks first in cluster mode, then binding).</summary>
    private static async ValueTask<string> UserOfAsync(HttpContext context)
    {
        if (context.Items.TryGetValue(UserItem, out var known) && known is string user) return user;
        var identity = context.RequestServices.GetRequiredService<TerminalIdentity>();
        var userId = await identity.AuthenticateAsync(context.Request, context.RequestAborted).ConfigureAwait(false);
        context.Items[UserItem] = userId;
        return userId;
    }
}

/// <summary>Who is calling could not be established (401) or may not use the terminal (403); <see cref="Hosting.WardenExceptionHandler"/> answers.</summary>
internal sealed class TerminalIdentityException(int status, string kind, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Kind { get; } = kind;
}
