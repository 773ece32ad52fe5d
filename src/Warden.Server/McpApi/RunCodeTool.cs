using System.ComponentModel;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Warden.Core.Execution;
using Warden.Core.Limits;

namespace Warden.Server.McpApi;

/// <summary><c>run_code</c>: one program in a fresh sandbox, on HTTP through the same runner (history, audit) as <c>POST /api/v1/execute</c>.</summary>
[McpServerToolType]
internal sealed class RunCodeTool(IMcpCaller caller)
{
    [McpServerTool(Name = "run_code", Title = "Run code in a sandbox", Destructive = false, OpenWorld = false)]
    [Description("Run a complete program once in a fresh, isolated sandbox and return its stdout, stderr, status and exit code. "
        + "Nothing persists between calls: no variables, no files, no installed packages (use run_python for state). "
        + "Any installed language: python, javascript, typescript, bash, c, cpp, go, rust, java and more; an unknown name is refused with the installed list. "
        + "Image files the program writes to its working directory (PNG, JPEG, SVG) are returned as images, other files as embedded resources. "
        + "No network unless asked for: network=true reaches, over HTTP(S) through Warden's egress proxy, every host the server allows "
        + "(GET /api/v1/config egress_allow); network_allow names fewer.")]
    public async Task<CallToolResult> RunAsync(
        [Description("Language name or alias, e.g. python, javascript, bash, c, go.")] string language,
        [Description("The complete source of the program.")] string code,
        [Description("Text given to the program on standard input.")] string? stdin = null,
        [Description("Wall-clock limit in seconds (default and maximum set by the server).")] double? timeout = null,
        [Description("Memory limit in MB (default and maximum set by the server).")] int? memoryMb = null,
        [Description("HTTP(S) through the egress proxy to every host the server allows.")] bool network = false,
        [Description("HTTP(S) through the egress proxy to only these host patterns (each within the server's list), e.g. [\"pypi.org\", \"*.pythonhosted.org\"].")] string[]? networkAllow = null,
        IProgress<ProgressNotificationValue>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var request = new ExecutionRequest
        {
            Language = language, Code = code, Stdin = stdin, CollectFiles = true, Network = network, NetworkAllow = networkAllow,
            Limits = new LimitRequest { TimeoutSeconds = timeout, MemoryMb = memoryMb },
        };
        try
        {
            // Cancellation from the client (notifications/cancelled or a dropped connection) cancels this token: the sandbox is killed.
            using var admitted = await caller.AdmitAsync(cancellationToken);
            var run = caller.RunAsync(request, cancellationToken);
            return ToolResults.From(progress is null ? await run : await ToolProgress.WhileRunningAsync(progress, run, cancellationToken));
        }
        catch (WardenException e)
        {
            return ToolResults.Refused(e);
        }
    }
}
