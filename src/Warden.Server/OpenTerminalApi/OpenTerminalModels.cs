using System.ComponentModel;

namespace Warden.Server.OpenTerminalApi;

// Request bodies of the Open Terminal API, with open-terminal's field names and descriptions (the LLM reads them).

public sealed record ExecRequest(
    [property: Description("Shell command to execute. Supports chaining (&&, ||, ;), pipes (|), and redirections.")] string Command,
    [property: Description("Working directory for the command. Defaults to the chat's working directory if not set.")] string? Cwd = null,
    [property: Description("Extra environment variables merged into the command's environment.")] Dictionary<string, string>? Env = null);

public sealed record InputRequest(
    [property: Description("Text to send to the process's stdin. Include newline characters as needed.")] string Input);

public sealed record WriteRequest(
    [property: Description("Absolute or relative path to write to. Parent directories are created automatically.")] string Path,
    [property: Description("Text content to write to the file.")] string Content);

public sealed record ReplacementChunk(
    [property: Description("Exact string to find. Must match precisely, including whitespace.")] string Target,
    [property: Description("Content to replace the target with.")] string Replacement,
    [property: Description("Narrow the search to lines at or after this (1-indexed).")] int? StartLine = null,
    [property: Description("Narrow the search to lines at or before this (1-indexed).")] int? EndLine = null,
    [property: Description("If true, replaces all occurrences. If false, errors when multiple matches are found.")] bool AllowMultiple = false);

public sealed record ReplaceRequest(
    [property: Description("Path to the file to modify.")] string Path,
    [property: Description("List of find-and-replace operations to apply sequentially.")] List<ReplacementChunk> Replacements);

public sealed record PathRequest(
    [property: Description("Directory path.")] string Path);

public sealed record MoveRequest(
    [property: Description("Path to the file or directory to move.")] string Source,
    [property: Description("Destination path (new location).")] string Destination);
