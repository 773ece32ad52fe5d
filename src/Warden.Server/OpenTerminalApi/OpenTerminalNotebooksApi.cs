using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Warden.Core.Execution;
using Warden.Server.Hosting;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// open-terminal's <c>/notebooks</c> (hidden from the OpenAPI document, as there): a session per <c>.ipynb</c> in the
/// caller's home, backed by Warden's Python kernel inside the caller's own sandbox, scoped to the chat that opened it.
/// Served only when <c>Warden:Terminal:Notebooks</c> is on (open-terminal's router is then not mounted at all: 404).
/// </summary>
internal static class OpenTerminalNotebooksApi
{
    public static void Map(RouteGroupBuilder root)
    {
        var notebooks = root.MapGroup("/notebooks").WithMetadata(TerminalCaller.Owned).ExcludeFromDescription();
        notebooks.MapPost("", CreateAsync).WithName("create_notebook_session");
        notebooks.MapPost("/{session_id}/execute", ExecuteAsync).WithName("execute_notebook_cell");
        notebooks.MapGet("/{session_id}", GetAsync).WithName("get_notebook_session");
        notebooks.MapDelete("/{session_id}", DeleteAsync).WithName("delete_notebook_session");
    }

    private static async Task<JsonHttpResult<CreateNotebookResponse>> CreateAsync(TerminalCaller caller, HttpRequest http, CancellationToken cancellationToken)
    {
        var request = await ReadAsync<CreateNotebookRequest>(http, cancellationToken);
        if (string.IsNullOrEmpty(request.Path)) throw new InvalidRequestException("path must be the path of an .ipynb file.", "path");
        var result = await caller.Terminal.OpenNotebookAsync(caller.SessionId, request.Path, cancellationToken);
        return TypedResults.Json(new CreateNotebookResponse(Text(result, "id"), Text(result, "kernel"), Text(result, "status")),
            NotebookJson.Default.CreateNotebookResponse);
    }

    private static async Task<JsonHttpResult<ExecuteCellResponse>> ExecuteAsync(TerminalCaller caller, [FromRoute(Name = "session_id")] string sessionId,
        HttpRequest http, CancellationToken cancellationToken)
    {
        var request = await ReadAsync<ExecuteCellRequest>(http, cancellationToken);
        var result = await caller.Terminal.ExecuteNotebookCellAsync(caller.SessionId, sessionId, request.CellIndex, request.Source, cancellationToken);
        var count = result.GetProperty("execution_count");
        return TypedResults.Json(new ExecuteCellResponse(Text(result, "status"), count.ValueKind == JsonValueKind.Number ? count.GetInt32() : null,
            [.. result.GetProperty("outputs").EnumerateArray()]), NotebookJson.Default.ExecuteCellResponse);
    }

    private static async Task<JsonHttpResult<NotebookSessionResponse>> GetAsync(TerminalCaller caller, [FromRoute(Name = "session_id")] string sessionId,
        CancellationToken cancellationToken)
    {
        var result = await caller.Terminal.GetNotebookAsync(caller.SessionId, sessionId, cancellationToken);
        return TypedResults.Json(new NotebookSessionResponse(Text(result, "id"), Text(result, "path"), Text(result, "kernel"), Text(result, "status")),
            NotebookJson.Default.NotebookSessionResponse);
    }

    private static async Task<JsonHttpResult<NotebookStoppedResponse>> DeleteAsync(TerminalCaller caller, [FromRoute(Name = "session_id")] string sessionId,
        CancellationToken cancellationToken)
    {
        var result = await caller.Terminal.DeleteNotebookAsync(caller.SessionId, sessionId, cancellationToken);
        return TypedResults.Json(new NotebookStoppedResponse(Text(result, "status")), NotebookJson.Default.NotebookStoppedResponse);
    }

    /// <summary>Bodies as open-terminal takes them: unknown fields ignored, anything else wrong a 400 naming the field.</summary>
    private static Task<T> ReadAsync<T>(HttpRequest request, CancellationToken cancellationToken) where T : class =>
        RequestBody.ReadJsonAsync<T>(request, NotebookJson.Default.Options, UnknownFields.Ignore, cancellationToken);

    private static string Text(JsonElement result, string name) => result.GetProperty(name).GetString() ?? "";
}
