using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Warden.Core.Execution;

namespace Warden.Server.OpenTerminalApi;

/// <summary>The LLM-facing file tools. Paths are relative to the chat's working directory; the user's sandbox refuses anything outside their home.</summary>
internal static class OpenTerminalFilesApi
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapGet("/files/list", ListFilesAsync).WithName("list_files").WithSummary("List directory contents")
            .WithDescription("Return a structured listing of files and directories at the given path.");
        api.MapGet("/files/read", ReadFileAsync).WithName("read_file").WithSummary("Read a file")
            .WithDescription("Read a file and return its contents. Supports text files and images (PNG, JPEG, WebP, etc.). For text files you can optionally request a specific line range. Use display_file to show a file to the user.");
        api.MapGet("/files/display", DisplayFileAsync).WithName("display_file").WithSummary("Display a file to the user")
            .WithDescription("Open a file in the user's file viewer so they can see it. This does not return file content to you; use read_file if you need to read the content yourself.");
        api.MapPost("/files/write", WriteFileAsync).WithName("write_file").WithSummary("Write a file").Accepts<WriteRequest>("application/json")
            .WithDescription("Write text content to a file. Creates parent directories automatically. Overwrites if the file already exists.");
        api.MapPost("/files/replace", ReplaceFileContentAsync).WithName("replace_file_content").WithSummary("Replace content in a file")
            .Accepts<ReplaceRequest>("application/json")
            .WithDescription("Find and replace exact strings in a file. Supports multiple replacements in one call with optional line range narrowing.");
        api.MapGet("/files/grep", GrepSearchAsync).WithName("grep_search").WithSummary("Search file contents")
            .WithDescription("Search for a text pattern across files in a directory. Returns structured matches with file paths, line numbers, and matching lines. Skips binary files.");
        api.MapGet("/files/glob", GlobSearchAsync).WithName("glob_search").WithSummary("Search files by name")
            .WithDescription("Search for files and subdirectories by name within a specified directory using glob patterns. Results include the relative path, type, size, and modification time.");
    }

    private static async Task<IResult> ListFilesAsync(TerminalCaller caller, [Description("Directory path to list.")] string? directory, CancellationToken cancellationToken) =>
        TypedResults.Ok(await caller.Terminal.CallAsync(caller.SessionId, "list_files", new JsonObject { ["directory"] = directory ?? "." }, cancellationToken));

    private static async Task<IResult> ReadFileAsync(TerminalCaller caller, [Description("Path to the file to read.")] string path,
        [FromQuery(Name = "start_line"), Description("First line to return (1-indexed, inclusive). Defaults to the beginning of the file.")] int? startLine,
        [FromQuery(Name = "end_line"), Description("Last line to return (1-indexed, inclusive). Defaults to the end of the file.")] int? endLine,
        CancellationToken cancellationToken)
    {
        if (startLine < 1 || endLine < 1) throw new InvalidRequestException("start_line and end_line are 1-indexed.", "start_line");
        var result = await caller.Terminal.CallAsync(caller.SessionId, "read",
            new JsonObject { ["path"] = path, ["start_line"] = startLine, ["end_line"] = endLine }, cancellationToken);
        // Images come back as bytes, as open-terminal does, so the model (and Open WebUI) can show them.
        if (result.TryGetProperty("base64", out var data))
            return TypedResults.File(data.GetBytesFromBase64(), result.GetProperty("mime").GetString());
        return TypedResults.Ok(result);
    }

    private static async Task<IResult> DisplayFileAsync(TerminalCaller caller, [Description("Path to the file to display.")] string path, CancellationToken cancellationToken) =>
        TypedResults.Ok(await caller.Terminal.CallAsync(caller.SessionId, "display", new JsonObject { ["path"] = path }, cancellationToken));

    private static async Task<IResult> WriteFileAsync(TerminalCaller caller, HttpRequest http, CancellationToken cancellationToken)
    {
        var request = await OpenTerminalApi.ReadAsync<WriteRequest>(http, cancellationToken);
        return TypedResults.Ok(await caller.Terminal.CallAsync(caller.SessionId, "write",
            new JsonObject { ["path"] = request.Path, ["content"] = request.Content }, cancellationToken));
    }

    private static async Task<IResult> ReplaceFileContentAsync(TerminalCaller caller, HttpRequest http, CancellationToken cancellationToken)
    {
        var request = await OpenTerminalApi.ReadAsync<ReplaceRequest>(http, cancellationToken);
        var chunks = new JsonArray();
        foreach (var c in request.Replacements)
        {
            if (c.StartLine < 1 || c.EndLine < 1) throw new InvalidRequestException("start_line and end_line are 1-indexed.", "replacements");
            chunks.Add((JsonNode)new JsonObject
            {
                ["target"] = c.Target, ["replacement"] = c.Replacement, ["start_line"] = c.StartLine, ["end_line"] = c.EndLine, ["allow_multiple"] = c.AllowMultiple,
            });
        }
        return TypedResults.Ok(await caller.Terminal.CallAsync(caller.SessionId, "replace",
            new JsonObject { ["path"] = request.Path, ["replacements"] = chunks }, cancellationToken));
    }

    private static async Task<IResult> GrepSearchAsync(TerminalCaller caller,
        [Description("Text or regex pattern to search for.")] string query,
        [Description("Directory or file to search in.")] string? path,
        [Description("Use regex. Set false for literal search.")] bool? regex,
        [FromQuery(Name = "case_insensitive"), Description("Perform case-insensitive matching.")] bool? caseInsensitive,
        [FromQuery, Description("Glob patterns to filter files (e.g. '*.py'). Files must match at least one pattern.")] string[]? include = null,
        [FromQuery(Name = "match_per_line"), Description("If true, return each matching line with line numbers. If false, return only the names of matching files.")] bool? matchPerLine = null,
        [FromQuery(Name = "max_results"), Description("Maximum number of matches to return (1-500).")] int? maxResults = null,
        CancellationToken cancellationToken = default)
    {
        if (maxResults is < 1 or > 500) throw new InvalidRequestException("max_results must be between 1 and 500.", "max_results");
        var includes = new JsonArray();
        foreach (var glob in include ?? []) includes.Add((JsonNode)glob);
        return TypedResults.Ok(await caller.Terminal.CallAsync(caller.SessionId, "grep", new JsonObject
        {
            ["query"] = query, ["path"] = path ?? ".", ["regex"] = regex ?? true, ["case_insensitive"] = caseInsensitive ?? false,
            ["include"] = includes, ["match_per_line"] = matchPerLine ?? true, ["max_results"] = maxResults ?? 50,
        }, cancellationToken));
    }

    private static async Task<IResult> GlobSearchAsync(TerminalCaller caller,
        [Description("Glob pattern to search for (e.g. '*.py').")] string pattern,
        [Description("Directory to search within.")] string? path,
        [FromQuery, Description("Glob patterns to exclude from search results.")] string[]? exclude = null,
        [Description("Type filter: 'file', 'directory', or 'any'.")] string? type = null,
        [FromQuery(Name = "max_results"), Description("Maximum number of matches to return (1-500).")] int? maxResults = null,
        CancellationToken cancellationToken = default)
    {
        if (type is not (null or "file" or "directory" or "any")) throw new InvalidRequestException("type must be file, directory or any.", "type");
        if (maxResults is < 1 or > 500) throw new InvalidRequestException("max_results must be between 1 and 500.", "max_results");
        var excludes = new JsonArray();
        foreach (var glob in exclude ?? []) excludes.Add((JsonNode)glob);
        return TypedResults.Ok(await caller.Terminal.CallAsync(caller.SessionId, "glob", new JsonObject
        {
            ["pattern"] = pattern, ["path"] = path ?? ".", ["exclude"] = excludes, ["type"] = type ?? "any", ["max_results"] = maxResults ?? 50,
        }, cancellationToken));
    }
}
