using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Execution;
using Warden.Core.Ownership;
using Warden.Core.Sessions;
using Warden.Server.Auth;
using Warden.Server.Cluster;
using Warden.Server.Hosting;

namespace Warden.Server.JupyterApi;

/// <summary>
/// The subset of jupyter_server that kernel clients use (Open WebUI's code interpreter, @jupyterlab/services): kernels
/// over REST and the kernel WebSocket. A kernel is a Warden session; this folder only translates the wire format.
/// Every kernel route acts as the caller's <see cref="Caller.Requester"/>: another principal's kernel is a 404.
/// </summary>
public static class JupyterApi
{
    public static IServiceCollection AddJupyterApi(this IServiceCollection services)
    {
        services.AddOptions<JupyterOptions>().BindConfiguration(JupyterOptions.Section);
        services.AddSingleton<JupyterAuth>();
        services.AddSingleton<KernelConnections>();
        return services;
    }

    public static WebApplication MapJupyterApi(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseWebSockets();
        var login = app.MapGroup("").WithTags("jupyter").WithMetadata(OwnAuthentication.Instance).ExcludeFromDescription();
        login.MapGet("/login", GetLogin);
        login.MapPost("/login", PostLoginAsync).DisableAntiforgery();

        var api = app.MapGroup("/api").WithTags("jupyter").WithMetadata(OwnAuthentication.Instance).AddEndpointFilter(RequireJupyterAuth);
        api.MapGet("", () => TypedResults.Json(new JupyterVersionDto("2.14.2"), JupyterHttpJson.Default.JupyterVersionDto)).WithName("jupyter_api_version").WithSummary("Jupyter server API version");
        api.MapGet("/status", GetStatus).WithName("jupyter_status").WithSummary("Jupyter server status");
        api.MapGet("/kernelspecs", GetKernelSpecs).WithName("jupyter_kernelspecs").WithSummary("Kernels this server offers");
        api.MapGet("/kernels", ListKernels).WithName("jupyter_list_kernels").WithSummary("Running kernels").WithMetadata(ClusterWideList.Instance);
        api.MapPost("/kernels", StartKernelAsync).WithName("jupyter_start_kernel").WithSummary("Start a kernel (a Warden session)");
        // In cluster mode, requests for one kernel (REST and its WebSocket) are served by the replica that holds it.
        var kernel = api.MapGroup("").WithMetadata(OwnedResource.Session("Kernel", authorize: IsAuthorizedAsync));
        kernel.MapGet("/kernels/{id}", GetKernel).WithName("jupyter_get_kernel").WithSummary("One kernel");
        kernel.MapDelete("/kernels/{id}", DeleteKernelAsync).WithName("jupyter_delete_kernel").WithSummary("Shut a kernel down");
        kernel.MapPost("/kernels/{id}/interrupt", InterruptAsync).WithName("jupyter_interrupt_kernel").WithSummary("Interrupt (SIGINT)");
        kernel.MapPost("/kernels/{id}/restart", RestartAsync).WithName("jupyter_restart_kernel").WithSummary("Restart with a fresh state");
        kernel.Map("/kernels/{id}/channels", ChannelsAsync).WithName("jupyter_kernel_channels").WithSummary("Kernel WebSocket (protocol 5.3)");
        return app;
    }

    private static async ValueTask<bool> IsAuthorizedAsync(HttpContext context)
    {
        var caller = await context.RequestServices.GetRequiredService<JupyterAuth>().AuthenticateAsync(context, context.RequestAborted);
        if (caller is not null) context.Features.Set(caller);
        return caller is not null;
    }

    /// <summary>The principal a Jupyter request acts as: kernels a caller starts belong to it, and it reaches only its own.</summary>
    private static Requester RequesterOf(HttpContext context) =>
        Caller.Of(context).Requester(surfaceUser: context.RequestServices.GetRequiredService<IOptions<JupyterOptions>>().Value.User);

    private static async ValueTask<object?> RequireJupyterAuth(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (await IsAuthorizedAsync(http)) return await next(context);
        // Credentials that were presented and refused (a wrong token, a forged or expired cookie) are 401; none at all,
        // or a cookie request without its XSRF echo, is jupyter_server's 403.
        bool refused = JupyterAuth.PresentedCredentials(http.Request) && !HasValidLoginCookie(http);
        return TypedResults.Problem(new ProblemDetails
        {
            Status = refused ? StatusCodes.Status401Unauthorized : StatusCodes.Status403Forbidden,
            Type = WardenExceptionHandler.TypeBase + (refused ? "unauthorized" : "forbidden"), Title = refused ? "Unauthorized" : "Forbidden",
            Detail = "Jupyter API: pass the API key as ?token=, Authorization: token <key> (or Bearer), or log in at /login " +
                "(cookie requests that change state must send X-XSRFToken).",
            Instance = http.Request.Path,
        });
    }

    private static bool HasValidLoginCookie(HttpContext context) =>
        context.RequestServices.GetRequiredService<JupyterAuth>().HasValidLogin(context.Request);

    private static ContentHttpResult GetLogin(HttpContext context)
    {
        // Open WebUI reads the _xsrf cookie from this very response, so it is always (re)issued.
        var xsrf = context.Request.Cookies[JupyterAuth.XsrfCookie] is { Length: > 0 } existing ? existing : JupyterAuth.NewXsrfToken();
        context.Response.Cookies.Append(JupyterAuth.XsrfCookie, xsrf, new CookieOptions { Path = "/", SameSite = SameSiteMode.Lax });
        var next = WebUtility.HtmlEncode(SafeNext(context.Request.Query["next"]));
        return TypedResults.Content($"""
            <!doctype html><html><head><title>Warden: log in</title></head><body>
            <form method="post" action="/login?next={next}">
            <input type="hidden" name="_xsrf" value="{WebUtility.HtmlEncode(xsrf)}">
            <label>Password <input type="password" name="password" autofocus></label> <button type="submit">Log in</button>
            </form></body></html>
            """, "text/html; charset=utf-8");
    }

    private static async Task<IResult> PostLoginAsync(HttpContext context, JupyterAuth auth, CancellationToken cancellationToken)
    {
        if (!context.Request.HasFormContentType)
            return Problem(StatusCodes.Status400BadRequest, "bad-request", "POST /login takes a form: _xsrf and password.", context);
        if (!auth.TryLoginAttempt(Caller.ClientAddress(context), out var retryAfter))
        {
            context.Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Problem(StatusCodes.Status429TooManyRequests, "too-many-logins", "Too many login attempts from this address; retry later.", context);
        }
        var form = await RequestBody.ReadFormAsync(context.Request, cancellationToken);
        var cookie = context.Request.Cookies[JupyterAuth.XsrfCookie];
        string presented = form["_xsrf"].ToString() is { Length: > 0 } f ? f : context.Request.Headers["X-XSRFToken"].ToString();
        if (string.IsNullOrEmpty(cookie) || cookie != presented)
            return Problem(StatusCodes.Status403Forbidden, "xsrf", "The _xsrf form field must match the _xsrf cookie (GET /login first).", context);
        if (!auth.CheckPassword(form["password"]))
            return Problem(StatusCodes.Status401Unauthorized, "unauthorized",
                auth.PasswordEnabled ? "Wrong password." : "Password login is disabled (set WARDEN_JUPYTER_PASSWORD).", context);
        context.Response.Cookies.Append(JupyterAuth.LoginCookie, auth.IssueLogin(),
            new CookieOptions { Path = "/", HttpOnly = true, SameSite = SameSiteMode.Lax });
        return Results.Redirect(SafeNext(context.Request.Query["next"]));
    }

    /// <summary>
    /// Only a local path: never redirect a login to another site. Printable ASCII only: browsers drop tabs and newlines
    /// from a URL before resolving it (so "/&lt;TAB&gt;/evil" is "//evil"), and Kestrel refuses control and non-ASCII
    /// characters in a header value (a 500).
    /// </summary>
    private static string SafeNext(string? next) =>
        next is { Length: > 0 } && next.StartsWith('/') && !next.StartsWith("//", StringComparison.Ordinal) && !next.Contains('\\')
            && next.All(c => c is > ' ' and < '\u007f') ? next : "/";

    private static IResult Problem(int status, string kind, string detail, HttpContext context) => TypedResults.Problem(new ProblemDetails
    {
        Status = status, Type = WardenExceptionHandler.TypeBase + kind, Title = ReasonPhrases.GetReasonPhrase(status), Detail = detail,
        Instance = context.Request.Path,
    });

    private static JsonHttpResult<JupyterStatusDto> GetStatus(HttpContext context, SessionManager sessions, KernelConnections connections)
    {
        var mine = sessions.List(RequesterOf(context));
        return TypedResults.Json(new JupyterStatusDto(WardenVersion.StartedAt, DateTimeOffset.UtcNow, mine.Count, mine.Sum(s => connections.Count(s.Id))),
            JupyterHttpJson.Default.JupyterStatusDto);
    }

    private static JsonHttpResult<KernelSpecsModel> GetKernelSpecs(SessionManager sessions)
    {
        var kernels = sessions.Kernels;
        return TypedResults.Json(new KernelSpecsModel(kernels.Default?.KernelName ?? "",
            kernels.All.ToDictionary(k => k.KernelName, KernelSpecModel.From)), JupyterHttpJson.Default.KernelSpecsModel);
    }

    private static JsonHttpResult<List<KernelModel>> ListKernels(HttpContext context, SessionManager sessions, KernelConnections connections) =>
        TypedResults.Json(sessions.List(RequesterOf(context)).Select(s => KernelModel.From(s, connections.Count(s.Id))).ToList(), JupyterHttpJson.Default.ListKernelModel);

    private static async Task<JsonHttpResult<KernelModel>> StartKernelAsync(HttpRequest request, SessionManager sessions, IOptions<JupyterOptions> options,
        CancellationToken cancellationToken)
    {
        // Open WebUI posts no body at all; JupyterLab posts {"name": "python3"} (other fields are jupyter_server's, ignored).
        string? name = null;
        NativeApi.NetworkRequest? asked = null;
        using (var buffer = new MemoryStream())
        {
            await request.Body.CopyToAsync(buffer, cancellationToken);
            if (buffer.Length > 65536) throw new PayloadTooLargeException("The kernel start request is too large.");
            var body = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
            if (!body.Span.Trim(" \t\r\n"u8).IsEmpty)
            {
                var start = RequestBody.Parse<KernelStartRequest>(body, NativeApi.NativeJson.Options, UnknownFields.Ignore);
                (name, asked) = (start.Name, start.Network);
            }
        }
        // The kernel's own network when its request names one, else the server's default for kernels.
        var network = asked is null ? Warden.Core.Networking.NetworkSetting.Parse(options.Value.Network) : new(asked.Enabled, asked.Allow);
        var session = await sessions.CreateAsync(new SessionRequest(name, RequesterOf(request.HttpContext).Principal, Network: network.Network,
            NetworkAllow: network.Allow), cancellationToken);
        request.HttpContext.Response.Headers.Location = $"/api/kernels/{session.Id}";
        return TypedResults.Json(KernelModel.From(session, 0), JupyterHttpJson.Default.KernelModel, statusCode: StatusCodes.Status201Created);
    }

    private static JsonHttpResult<KernelModel> GetKernel(string id, HttpContext context, SessionManager sessions, KernelConnections connections) =>
        TypedResults.Json(KernelModel.From(sessions.Get(id, RequesterOf(context)), connections.Count(id)), JupyterHttpJson.Default.KernelModel);

    private static async Task<NoContent> DeleteKernelAsync(string id, HttpContext context, SessionManager sessions, KernelConnections connections,
        CancellationToken cancellationToken)
    {
        await sessions.DeleteAsync(id, RequesterOf(context), cancellationToken);
        await connections.CloseAllAsync(id);
        return TypedResults.NoContent();
    }

    private static async Task<NoContent> InterruptAsync(string id, HttpContext context, SessionManager sessions, CancellationToken cancellationToken)
    {
        await sessions.Get(id, RequesterOf(context)).InterruptAsync(cancellationToken);
        return TypedResults.NoContent();
    }

    private static async Task<JsonHttpResult<KernelModel>> RestartAsync(string id, HttpContext context, SessionManager sessions, KernelConnections connections,
        CancellationToken cancellationToken)
    {
        var session = sessions.Get(id, RequesterOf(context));
        await session.RestartAsync(cancellationToken);
        return TypedResults.Json(KernelModel.From(session, connections.Count(id)), JupyterHttpJson.Default.KernelModel);
    }

    private static async Task ChannelsAsync(string id, HttpContext context, SessionManager sessions, KernelConnections connections,
        ILoggerFactory loggers)
    {
        var session = sessions.Get(id, RequesterOf(context));
        if (!context.WebSockets.IsWebSocketRequest)
            throw new InvalidRequestException("This endpoint is a WebSocket (kernel channels): connect with Upgrade: websocket.");
        bool binary = context.WebSockets.WebSocketRequestedProtocols.Contains(JupyterWire.V1Protocol);
        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            SubProtocol = binary ? JupyterWire.V1Protocol : null, KeepAliveInterval = TimeSpan.FromSeconds(30),
        });
        var connection = new KernelConnection(socket, session, binary, connections, sessions, loggers.CreateLogger("Warden.Server.JupyterApi.KernelConnection"));
        await connection.RunAsync(context.RequestAborted);
    }
}
