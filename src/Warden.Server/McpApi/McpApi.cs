using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.AspNetCore;
using ModelContextProtocol.Protocol;
using Warden.Server.Auth;
using Warden.Server.Hosting;
using Warden.Server.OpenTerminalApi;

namespace Warden.Server.McpApi;

/// <summary>
/// The Model Context Protocol surface at <c>/mcp</c> (Streamable HTTP, the official C# SDK): wire format ↔ Core, nothing
/// more. The API-key middleware authenticates the request as on every other route; the principal is the caller's
/// <see cref="Caller.Requester"/> (tenant of the key, user from <c>X-User-Id</c>), established again on every request.
/// </summary>
public static class McpApi
{
    public const string Path = "/mcp";

    internal const string Instructions = "Warden runs code in isolated sandboxes. run_code: one program in a fresh sandbox, any installed language. "
        + "run_python: a persistent Python kernel for this conversation; variables and imports survive between calls.";

    private const string TerminalInstructions = "run_shell, list_files, read_file, write_file (where enabled): your own persistent Linux sandbox and its home directory.";

    /// <param name="clustered">One of several replicas: then no terminal tools, since a user's terminal lives on one replica
    /// (<c>/terminal</c> is routed there) and an MCP call is served wherever it lands.</param>
    public static IServiceCollection AddMcpApi(this IServiceCollection services, IConfiguration configuration, bool clustered)
    {
        // The terminal tools only where /terminal is on: both act on the same per-user sandboxes.
        bool terminal = !clustered
            && (configuration.GetSection(OpenTerminalOptions.Section).Get<OpenTerminalOptions>()?.Enabled ?? new OpenTerminalOptions().Enabled);
        services.AddHttpContextAccessor();
        services.AddSingleton<McpKernels>();
        services.AddSingleton<ForwardedUserIdentity>();
        services.AddScoped<IMcpCaller, HttpMcpCaller>();
        var server = services.AddMcpServer(o =>
            {
                o.ServerInfo = new Implementation { Name = "warden", Title = "Warden", Version = WardenVersion.Current };
                o.ServerInstructions = terminal ? Instructions + " " + TerminalInstructions : Instructions;
            })
            .WithHttpTransport(o =>
            {
                // Clients of the initialize handshake (Open WebUI, Claude Desktop, the SDKs of 2025) get an MCP session: the
                // conversation their python kernel belongs to when they send no X-Session-Id. Newer clients are served per
                // request. Either way tools run on the execution context of the HTTP request that carries the call (the
                // SDK's default), so each call is authorized as that request's caller, never as whoever opened the session.
                o.SessionMode = HttpServerSessionMode.StatefulForInitializeClients;
            })
            .WithTools<RunCodeTool>()
            .WithTools<RunPythonTool>();
        if (terminal) server.WithTools<TerminalTools>();
        return services;
    }

    public static IEndpointRouteBuilder MapMcpApi(this IEndpointRouteBuilder app)
    {
        app.MapMcp(Path).WithTags("mcp").AddEndpointFilter(BindPrincipal);
        return app;
    }

    /// <summary>
    /// Establishes the request's principal once, then names it as its <see cref="HttpContext.User"/>: the SDK binds an MCP
    /// session to the user that opened it and refuses (403) a request carrying that session's id as anyone else, so a
    /// leaked <c>Mcp-Session-Id</c> reaches nothing of another principal's. In forwarded-JWT mode
    /// (<c>Warden:OpenTerminal:ForwardJwtSecret</c>, as on <c>/terminal</c>) a key's request must carry Open WebUI's signed
    /// user JWT, whose subject becomes the caller's user; <c>X-User-Id</c>, if sent, must name the same user.
    /// </summary>
    private static async ValueTask<object?> BindPrincipal(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var context = invocation.HttpContext;
        if (context.RequestServices.GetRequiredService<ForwardedUserIdentity>().Resolve(context) is { } forwarded) context.Features.Set(forwarded);
        var principal = Caller.Of(context).Requester().Principal;
        context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, principal.ToString())], authenticationType: "warden"));
        return await next(invocation);
    }
}
