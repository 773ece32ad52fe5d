using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Warden.Core.Terminals;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// The file browser's serving routes (hidden from the OpenAPI document, as in open-terminal): a file at its own path,
/// so an HTML page's relative CSS, scripts and images resolve (<c>/files/serve/{path}</c>); a streamed ZIP
/// (<c>/files/archive</c>); and the operator's <c>/info</c> text, a tool when set.
/// </summary>
internal static class OpenTerminalBrowserApi
{
    public static void Map(RouteGroupBuilder root, RouteGroupBuilder api, OpenTerminalUiOptions options)
    {
        var files = root.MapGroup("").WithMetadata(TerminalCaller.Owned);
        files.MapGet("/files/serve/{**path}", ServeFileAsync).ExcludeFromDescription();
        files.MapPost("/files/archive", ArchiveAsync).ExcludeFromDescription();
        // As open-terminal: the route exists only when the operator wrote something (a 404 otherwise, and no tool).
        if (!string.IsNullOrEmpty(options.Info))
        {
            api.MapGet("/info", (TerminalCaller _, IOptions<OpenTerminalUiOptions> ui) => TypedResults.Json(new InfoResponse(ui.Value.Info!), TerminalUiJson.Default.InfoResponse))
                .WithName("get_info").WithSummary("Get environment info")
                .WithDescription("Return operator-provided information about this environment. Use this to understand the system you are working with.");
        }
    }

    /// <summary>The URL path is the file's absolute path inside the sandbox (open-terminal's view_file("/" + path)), answered inline.</summary>
    private static async Task<IResult> ServeFileAsync(TerminalCaller caller, string? path, HttpContext context, IOptions<OpenTerminalUiOptions> ui,
        CancellationToken cancellationToken)
    {
        var result = await caller.Terminal.CallAsync(caller.SessionId, "view", new JsonObject { ["path"] = "/" + (path ?? "") }, cancellationToken);
        PreviewHeaders.Apply(context.Response.Headers, ui.Value);
        return TypedResults.File(result.GetProperty("base64").GetBytesFromBase64(), result.GetProperty("mime").GetString());
    }

    /// <summary>
    /// A ZIP streamed from the user's sandbox as it is made. Every path is checked before the first byte (404 / 403 as
    /// problems); the size cap is enforced by the agent while it reads and writes, and counted here again: past it the
    /// connection is cut, so a client never mistakes a cut archive for a whole one.
    /// </summary>
    private static async Task ArchiveAsync(TerminalCaller caller, HttpContext context, IOptions<OpenTerminalUiOptions> ui, CancellationToken cancellationToken)
    {
        var request = await OpenTerminalApi.ReadAsync<ArchiveRequest>(context.Request, cancellationToken);
        if (request.Paths is not { Count: > 0 }) throw new TerminalException(TerminalFailure.BadRequest, "No paths provided");
        var cap = ui.Value.MaxArchiveBytes;
        await using var archive = await caller.Terminal.ArchiveAsync(request.Paths, cap, cancellationToken);
        var name = request.Paths.Count == 1 ? Path.GetFileName(request.Paths[0].TrimEnd('/')) : "download";
        var disposition = new ContentDispositionHeaderValue("attachment");
        disposition.SetHttpFileName((name is "" or "." or ".." ? "archive" : name) + ".zip");
        context.Response.ContentType = "application/zip";
        context.Response.Headers.ContentDisposition = disposition.ToString();
        var buffer = new byte[64 * 1024];
        long sent = 0;
        try
        {
            int n;
            while ((n = await archive.ReadAsync(buffer, cancellationToken)) > 0)
            {
                sent += n;
                if (sent > cap) throw new IOException($"The archive is larger than {cap} bytes.");
                await context.Response.Body.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
            }
        }
        catch (IOException)
        {
            // Cut at the cap (or the sandbox went away): the connection ends without the chunked terminator.
            context.Abort();
        }
    }
}
