using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using Warden.Core.Execution;
using Warden.Core.Terminals;
using Warden.Core.Workspaces;
using Warden.Server.Hosting;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// The endpoints Open WebUI's interface uses (not in the OpenAPI document, as in open-terminal): health and feature
/// discovery, the system prompt, the file browser's working directory, viewing, uploading and managing files.
/// </summary>
internal static class OpenTerminalUiApi
{
    public static void Map(RouteGroupBuilder root)
    {
        root.MapGet("/health", Health).ExcludeFromDescription();
        root.MapGet("/api/config", (IOptions<TerminalOptions> t) => TypedResults.Ok(new UiConfigDto(new UiFeaturesDto(Terminal: t.Value.Interactive, Notebooks: t.Value.Notebooks, System: true)))).ExcludeFromDescription();
        root.MapGet("/system", SystemPrompt).ExcludeFromDescription();
        var files = root.MapGroup("").WithMetadata(TerminalCaller.Owned);
        files.MapGet("/files/cwd", GetWorkingDirectory).ExcludeFromDescription();
        files.MapPost("/files/cwd", SetWorkingDirectoryAsync).ExcludeFromDescription();
        files.MapGet("/files/view", ViewFileAsync).ExcludeFromDescription();
        files.MapPost("/files/upload", UploadFileAsync).ExcludeFromDescription();
        files.MapPost("/files/mkdir", MakeDirectoryAsync).ExcludeFromDescription();
        files.MapDelete("/files/delete", DeleteAsync).ExcludeFromDescription();
        files.MapPost("/files/move", MoveAsync).ExcludeFromDescription();
    }

    /// <summary>open-terminal's {"status": "ok"}, plus what users' homes are here and why, when that is worth a warning.</summary>
    private static IResult Health(UserHomes homes)
    {
        var body = new Dictionary<string, string?> { ["status"] = homes.Storage is null ? "unavailable" : "ok" };
        foreach (var (key, value) in homes.Describe()) body[key] = value;
        return TypedResults.Ok(body);
    }

    /// <summary>Open WebUI fetches this once per connection (with no user), so it describes the sandbox in general.</summary>
    private static IResult SystemPrompt(IOptions<TerminalOptions> terminal, IOptions<OpenTerminalOptions> options)
    {
        var t = terminal.Value;
        var prompt = "You have access to a Linux sandbox of your own (bash, Python 3 and the host's tools under /usr), run by Warden. " +
            $"Your home directory {t.HomePath} persists between chats; each chat starts in its own directory under {t.HomePath}/chats. " +
            (t.NetworkSetting.Network ? "HTTP(S) to some public hosts works through the proxy in HTTP_PROXY; nothing else is reachable. "
                : "There is no network access. ") +
            $"Commands may run up to {t.MaxCommandSeconds:0} s; use run_command with wait to get output inline, or poll get_process_status. " +
            "Use your tools to directly interact with the system: run commands, read and write files, and search the filesystem. " +
            "Prefer verifying the current state before making changes. If a command produces no output, that typically means it succeeded.";
        if (!string.IsNullOrEmpty(options.Value.SystemPromptExtra)) prompt += "\n\n" + options.Value.SystemPromptExtra;
        return TypedResults.Ok(new SystemPromptDto(prompt));
    }

    private static IResult GetWorkingDirectory(TerminalCaller caller) => TypedResults.Ok(new WorkingDirectoryDto(
        caller.Terminal.WorkingDirectory(caller.SessionId), caller.Terminal.HomePath, new FileRootDto(caller.Terminal.HomePath, "Home")));

    private static async Task<IResult> SetWorkingDirectoryAsync(TerminalCaller caller, HttpRequest http, CancellationToken cancellationToken)
    {
        var request = await OpenTerminalApi.ReadAsync<PathRequest>(http, cancellationToken);
        return TypedResults.Ok(new CwdDto(await caller.Terminal.SetWorkingDirectoryAsync(caller.SessionId, request.Path, cancellationToken)));
    }

    /// <summary>Raw bytes of one of the caller's own files (the file browser's preview and download).</summary>
    private static async Task<IResult> ViewFileAsync(TerminalCaller caller, string path, HttpContext context, IOptions<OpenTerminalUiOptions> ui,
        CancellationToken cancellationToken)
    {
        var result = await caller.Terminal.CallFromHomeAsync(caller.SessionId, "view", new JsonObject { ["path"] = path }, cancellationToken);
        // Inline, as open-terminal answers (no Content-Disposition): the browser decides whether it shows or saves it.
        // An HTML file shown inline runs as a preview does, so it gets the same headers (an opaque origin).
        PreviewHeaders.Apply(context.Response.Headers, ui.Value);
        return TypedResults.File(result.GetProperty("base64").GetBytesFromBase64(), result.GetProperty("mime").GetString());
    }

    private static async Task<IResult> UploadFileAsync(TerminalCaller caller, HttpContext context, string directory, IOptions<TerminalOptions> terminal,
        CancellationToken cancellationToken)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = terminal.Value.MaxFileBytes + (1 << 20);
        if (!context.Request.HasFormContentType) throw new InvalidRequestException("Upload a file as multipart/form-data (field 'file').", "file");
        IFormCollection form;
        try
        {
            form = await RequestBody.ReadFormAsync(context.Request, cancellationToken);
        }
        catch (InvalidRequestException e)
        {
            // A body that does not parse is FastAPI's 400 ("There was an error parsing the body"), not a validation 422.
            throw new TerminalException(TerminalFailure.BadRequest, e.Message);
        }
        var file = form.Files.GetFile("file") ?? throw new InvalidRequestException("The multipart field 'file' is missing.", "file");
        if (file.Length > terminal.Value.MaxFileBytes) throw new PayloadTooLargeException($"The file is larger than {terminal.Value.MaxFileBytes} bytes.");
        var name = Path.GetFileName(file.FileName);
        if (name is "" or "." or "..") name = "upload";
        using var buffer = new MemoryStream();
        await file.CopyToAsync(buffer, cancellationToken);
        var target = directory.TrimEnd('/') + "/" + name;
        return TypedResults.Ok(await caller.Terminal.CallFromHomeAsync(caller.SessionId, "write",
            new JsonObject { ["path"] = target, ["base64"] = Convert.ToBase64String(buffer.GetBuffer(), 0, (int)buffer.Length) }, cancellationToken));
    }

    private static async Task<IResult> MakeDirectoryAsync(TerminalCaller caller, HttpRequest http, CancellationToken cancellationToken)
    {
        var request = await OpenTerminalApi.ReadAsync<PathRequest>(http, cancellationToken);
        return TypedResults.Ok(await caller.Terminal.CallFromHomeAsync(caller.SessionId, "mkdir", new JsonObject { ["path"] = request.Path }, cancellationToken));
    }

    private static async Task<IResult> DeleteAsync(TerminalCaller caller, string path, CancellationToken cancellationToken) =>
        TypedResults.Ok(await caller.Terminal.CallFromHomeAsync(caller.SessionId, "delete", new JsonObject { ["path"] = path }, cancellationToken));

    private static async Task<IResult> MoveAsync(TerminalCaller caller, HttpRequest http, CancellationToken cancellationToken)
    {
        var request = await OpenTerminalApi.ReadAsync<MoveRequest>(http, cancellationToken);
        return TypedResults.Ok(await caller.Terminal.CallFromHomeAsync(caller.SessionId, "move",
            new JsonObject { ["source"] = request.Source, ["destination"] = request.Destination }, cancellationToken));
    }
}
