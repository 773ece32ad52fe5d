using System.Data.Common;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Warden.Core.Terminals;
using Warden.Server.OpenTerminalApi;

namespace Warden.Server.TerminalPolicies;

/// <summary>
/// The orchestrator's <c>/p/{policy_id}/…</c> routes. Before routing, <c>{BasePath}/p/{id}/rest</c> becomes
/// <c>{BasePath}/rest</c> with the policy attached to the request, so every Open Terminal route (HTTP and WebSocket,
/// whoever maps it under the base path) is served under the prefix by the (policy, user) terminal without more code:
/// <see cref="TerminalCaller"/> and anything else that asks <see cref="PolicyOf"/> get the policy's sandbox.
/// An id that is not a plain name is 400; an unknown policy 404 <c>{"detail": "Policy '…' not found"}</c>.
/// </summary>
public static class PolicyRouting
{
    private static readonly object PolicyItem = new();

    /// <summary>The policy whose prefix this request came in under; null for the plain surface.</summary>
    public static TerminalPolicy? PolicyOf(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Items.TryGetValue(PolicyItem, out var policy) ? policy as TerminalPolicy : null;
    }

    /// <summary>Must run before routing (it changes which endpoint the request matches).</summary>
    public static void UseTerminalPolicyPrefix(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var options = app.Services.GetRequiredService<IOptions<OpenTerminalOptions>>().Value;
        if (!options.Enabled) return;
        var prefix = new PathString(options.BasePath + "/p");
        app.UseWhen(c => c.Request.Path.StartsWithSegments(prefix), b => b.Use((context, next) => RewriteAsync(context, next, options.BasePath, prefix)));
    }

    private static async Task RewriteAsync(HttpContext context, RequestDelegate next, string basePath, PathString prefix)
    {
        context.Request.Path.StartsWithSegments(prefix, out var rest);
        var value = rest.Value ?? "";
        int end = value.IndexOf('/', 1);
        var id = end < 0 ? value.TrimStart('/') : value[1..end];
        var remainder = end < 0 ? "" : value[end..];
        // The path is already percent-decoded except for %2F, so an encoded slash or dot segment stays in the id and fails here.
        if (!PolicyData.IsValidId(id))
        {
            await WriteAsync(context, 400, "Invalid policy id: a policy id is a plain name (letters, digits, '.', '_', '-'), never a path.");
            return;
        }
        TerminalPolicy? policy;
        try
        {
            policy = await context.RequestServices.GetRequiredService<PolicyCatalog>().FindAsync(id, context.RequestAborted);
        }
        catch (Exception e) when (e is DbException or TimeoutException && !context.RequestAborted.IsCancellationRequested)
        {
            await WriteAsync(context, 503, "The policy database is unavailable; retry shortly.");
            return;
        }
        if (policy is null)
        {
            await WriteAsync(context, 404, $"Policy '{id}' not found");
            return;
        }
        context.Items[PolicyItem] = policy;
        // In cluster mode the owner of the (policy, user) terminal must get the prefixed path, not the rewritten one.
        Cluster.ForwardedPath.Keep(context, context.Request.Path);
        context.Request.Path = new PathString(basePath + remainder);
        await next(context);
    }

    private static Task WriteAsync(HttpContext context, int status, string detail)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new PolicyError(detail), PolicyJson.Default.PolicyError, cancellationToken: context.RequestAborted);
    }
}
