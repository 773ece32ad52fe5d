using System.ComponentModel;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Warden.Core.Execution;
using Warden.Core.Terminals;

namespace Warden.Server.McpApi;

/// <summary>
/// The caller's Open Terminal sandbox (the same one <c>/terminal</c> serves): a shell command and the files of its home.
/// The terminal is <see cref="TerminalManager.Get"/> of the caller's own principal, never another's; paths are resolved
/// inside the sandbox by its agent, so nothing here opens a user's path on the host.
/// </summary>
[McpServerToolType]
internal sealed class TerminalTools(IMcpCaller caller, TerminalManager terminals)
{
    public const double DefaultTimeoutSeconds = 60;
    public const double MaxTimeoutSeconds = 600;

    [McpServerTool(Name = "run_shell", Title = "Run a shell command in your sandbox", Destructive = true, OpenWorld = false)]
    [Description("Run a shell command (bash) in your own persistent Linux sandbox and return its output and exit code. "
        + "Your home directory and the files in it persist between calls and conversations; this conversation has its own working directory. "
        + "The command is killed when it exceeds the timeout.")]
    public async Task<CallToolResult> RunShellAsync(
        [Description("The shell command, e.g. \"ls -la\" or \"pip install --user rich && python3 script.py\".")] string command,
        [Description("Seconds to wait for the command before killing it (default 60, at most 600).")] double? timeout = null,
        IProgress<ProgressNotificationValue>? progress = null,
        CancellationToken cancellationToken = default)
    {
        try
        {
            if (string.IsNullOrWhiteSpace(command)) throw new InvalidRequestException("command must not be empty.", "command");
            if (timeout is <= 0 or > MaxTimeoutSeconds) throw new InvalidRequestException($"timeout must be above 0 and at most {MaxTimeoutSeconds} seconds.", "timeout");
            var (terminal, chat) = Own();
            var started = await terminal.RunAsync(chat, command, null, null, wait: 0, tail: null, cancellationToken);
            var id = started.GetProperty("id").GetString()!;
            var deadline = DateTimeOffset.UtcNow.AddSeconds(timeout ?? DefaultTimeoutSeconds);
            bool timedOut = false;
            int beats = 0;
            try
            {
                // Short waits, so a cancelled call (the client's notifications/cancelled) is noticed and the command killed.
                while (true)
                {
                    var left = (deadline - DateTimeOffset.UtcNow).TotalSeconds;
                    if (left <= 0) { timedOut = true; break; }
                    var status = await terminal.StatusAsync(chat, id, Math.Min(left, 2), 0, 1, cancellationToken);
                    if (status.GetProperty("status").GetString() != "running") break;
                    // Every poll of a running command is a progress beat (see ToolProgress).
                    progress?.Report(new ProgressNotificationValue { Progress = ++beats, Message = "running" });
                }
            }
            catch (OperationCanceledException)
            {
                await terminal.KillAsync(chat, id, force: true, CancellationToken.None);
                throw;
            }
            if (timedOut) await terminal.KillAsync(chat, id, force: true, cancellationToken);
            var final = await terminal.StatusAsync(chat, id, null, 0, null, cancellationToken);
            return Shell(final, timedOut);
        }
        catch (WardenException e)
        {
            return ToolResults.Refused(e);
        }
    }

    [McpServerTool(Name = "list_files", Title = "List files in your sandbox", ReadOnly = true, OpenWorld = false)]
    [Description("List a directory of your persistent sandbox: names, types and sizes. Relative paths start at this conversation's working directory; ~ is your home.")]
    public Task<CallToolResult> ListFilesAsync(
        [Description("The directory to list (default: the working directory).")] string? directory = null,
        CancellationToken cancellationToken = default) =>
        CallAsync("list_files", new JsonObject { ["directory"] = directory ?? "." }, cancellationToken);

    [McpServerTool(Name = "read_file", Title = "Read a file in your sandbox", ReadOnly = true, OpenWorld = false)]
    [Description("Read a text file of your persistent sandbox (optionally a range of lines); an image file comes back as an image.")]
    public async Task<CallToolResult> ReadFileAsync(
        [Description("Path of the file.")] string path,
        [Description("First line to return, 1-based (default: the first).")] int? startLine = null,
        [Description("Last line to return, 1-based, inclusive (default: the last).")] int? endLine = null,
        CancellationToken cancellationToken = default)
    {
        try
        {
            if (startLine < 1 || endLine < 1) throw new InvalidRequestException("startLine and endLine are 1-based.", "startLine");
            var (terminal, chat) = Own();
            var result = await terminal.CallAsync(chat, "read",
                new JsonObject { ["path"] = path, ["start_line"] = startLine, ["end_line"] = endLine }, cancellationToken);
            if (result.TryGetProperty("base64", out var data))
                return new CallToolResult { Content = [ImageContentBlock.FromBytes(data.GetBytesFromBase64(), result.GetProperty("mime").GetString()!)], IsError = false };
            return new CallToolResult { Content = [new TextContentBlock { Text = result.GetProperty("content").GetString() ?? "" }], IsError = false };
        }
        catch (WardenException e)
        {
            return ToolResults.Refused(e);
        }
    }

    [McpServerTool(Name = "write_file", Title = "Write a file in your sandbox", Destructive = true, OpenWorld = false)]
    [Description("Create or overwrite a text file in your persistent sandbox (parent directories are created). Your home has a quota.")]
    public Task<CallToolResult> WriteFileAsync(
        [Description("Path of the file.")] string path,
        [Description("The whole new content of the file.")] string content,
        CancellationToken cancellationToken = default) =>
        CallAsync("write", new JsonObject { ["path"] = path, ["content"] = content }, cancellationToken);

    private async Task<CallToolResult> CallAsync(string op, JsonObject arguments, CancellationToken cancellationToken)
    {
        try
        {
            var (terminal, chat) = Own();
            var result = await terminal.CallAsync(chat, op, arguments, cancellationToken);
            return new CallToolResult { Content = [new TextContentBlock { Text = result.GetRawText() }], IsError = false };
        }
        catch (WardenException e)
        {
            return ToolResults.Refused(e);
        }
    }

    /// <summary>The caller's own terminal (its principal by <see cref="IMcpCaller.Requester"/>) and this chat's working directory.</summary>
    private (UserTerminal Terminal, string? Chat) Own()
    {
        return (terminals.Get(caller.Requester().Principal), caller.Conversation());
    }

    private static CallToolResult Shell(JsonElement status, bool timedOut)
    {
        var text = new StringBuilder();
        var state = status.GetProperty("status").GetString();
        text.Append("status: ").Append(timedOut ? "timeout (killed)" : state);
        if (status.TryGetProperty("exit_code", out var code) && code.ValueKind == JsonValueKind.Number) text.Append("\nexit code: ").Append(code.GetInt32());
        var output = new StringBuilder();
        foreach (var entry in status.GetProperty("output").EnumerateArray())
            output.Append(entry.GetProperty("data").GetString());
        if (output.Length > 0) text.Append("\n--- output ---\n").Append(output);
        if (status.TryGetProperty("truncated", out var truncated) && truncated.ValueKind == JsonValueKind.True) text.Append("\n(output truncated: only the end is kept)");
        bool ok = !timedOut && code.ValueKind == JsonValueKind.Number && code.GetInt32() == 0;
        return new CallToolResult { Content = [new TextContentBlock { Text = text.ToString() }], IsError = !ok };
    }
}
