using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Warden.Core.Execution;
using Warden.Core.Terminals;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// open-terminal's interactive terminals (hidden from OpenAPI, as upstream): <c>POST/GET /api/terminals</c>,
/// <c>GET/DELETE /api/terminals/{id}</c> and the WebSocket on <c>/api/terminals/{id}</c> (<see cref="TerminalSocket"/>).
/// A terminal is a PTY in the caller's own sandbox; list, get and delete see only the caller's chat's terminals (as
/// open-terminal after 0.11.34), and anyone else's id answers exactly like a missing one. Errors of these routes are
/// <c>{"error": …}</c> as upstream; authentication failures stay problems like the rest of <c>/terminal</c>.
/// </summary>
internal static class InteractiveTerminalsApi
{
    private const string NotFoundText = "Session not found";

    public static void Map(RouteGroupBuilder root)
    {
        var owned = root.MapGroup("/api/terminals").ExcludeFromDescription();
        owned.MapPost("", CreateAsync).WithMetadata(TerminalCaller.Owned);
        owned.MapGet("", List).WithMetadata(TerminalCaller.Owned);
        owned.MapDelete("/{id}", DeleteAsync).WithMetadata(TerminalCaller.Owned);
        // One route for the JSON GET and the WebSocket (the same path upstream); a WebSocket carries no credentials until
        // its first frame, so it is authenticated there, not by the request's headers.
        owned.MapGet("/{id}", GetOrAttachAsync);
    }

    private static async Task<Results<JsonHttpResult<TerminalInfo>, JsonHttpResult<TerminalError>>> CreateAsync(TerminalCaller caller, HttpRequest http,
        CancellationToken cancellationToken)
    {
        var request = await ReadBodyAsync(http, cancellationToken);
        try
        {
            var terminal = await caller.Terminal.OpenInteractiveAsync(caller.SessionId, request?.Cwd, request?.Cols ?? 80, request?.Rows ?? 24, cancellationToken);
            return TypedResults.Json(Info(terminal), PtyJson.Default.TerminalInfo);
        }
        catch (TerminalException e) when (e.Failure is TerminalFailure.TooManyTerminals or TerminalFailure.SandboxUnavailable or TerminalFailure.NotFound
            or TerminalFailure.Forbidden)
        {
            int status = e.Failure switch
            {
                TerminalFailure.TooManyTerminals => 429,
                TerminalFailure.SandboxUnavailable => 503,
                TerminalFailure.NotFound => 404,
                _ => 403,
            };
            return TypedResults.Json(new TerminalError(e.Message), PtyJson.Default.TerminalError, statusCode: status);
        }
    }

    private static JsonHttpResult<List<TerminalInfo>> List(TerminalCaller caller) =>
        TypedResults.Json(caller.Terminal.ListInteractive(caller.SessionId).Select(Info).ToList(), PtyJson.Default.ListTerminalInfo);

    private static async Task<Results<JsonHttpResult<TerminalDeleted>, JsonHttpResult<TerminalError>>> DeleteAsync(TerminalCaller caller, string id,
        CancellationToken cancellationToken) =>
        await caller.Terminal.CloseInteractiveAsync(id, caller.SessionId, cancellationToken)
            ? TypedResults.Json(new TerminalDeleted("deleted"), PtyJson.Default.TerminalDeleted)
            : TypedResults.Json(new TerminalError(NotFoundText), PtyJson.Default.TerminalError, statusCode: 404);

    private static async Task GetOrAttachAsync(HttpContext context, string id)
    {
        if (context.WebSockets.IsWebSocketRequest)
        {
            await TerminalSocket.RunAsync(context, id);
            return;
        }
        var caller = await TerminalCaller.ForRequestAsync(context);
        IResult result = caller.Terminal.FindInteractive(id, caller.SessionId) is { } terminal
            ? TypedResults.Json(Info(terminal), PtyJson.Default.TerminalInfo)
            : TypedResults.Json(new TerminalError(NotFoundText), PtyJson.Default.TerminalError, statusCode: 404);
        await result.ExecuteAsync(context);
    }

    private static TerminalInfo Info(InteractiveTerminal terminal) =>
        new(terminal.Id, terminal.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture), terminal.Pid);

    /// <summary>The optional body: none (as open-terminal 0.11.34 and Open WebUI send) or <c>{"cwd","cols","rows"}</c>.</summary>
    private static async Task<CreateTerminalRequest?> ReadBodyAsync(HttpRequest http, CancellationToken cancellationToken)
    {
        if (http.ContentLength is 0 || (http.ContentLength is null && http.Headers.TransferEncoding.Count == 0)) return null;
        try
        {
            var request = await JsonSerializer.DeserializeAsync(http.Body, PtyJson.Default.CreateTerminalRequest, cancellationToken);
            if (request?.Cols is < 1 or > 1000) throw new InvalidRequestException("cols must be between 1 and 1000.", "cols");
            if (request?.Rows is < 1 or > 1000) throw new InvalidRequestException("rows must be between 1 and 1000.", "rows");
            return request;
        }
        catch (JsonException e)
        {
            throw new InvalidRequestException("The body must be a JSON object with optional cwd, cols and rows: " + e.Message, "body");
        }
    }
}
