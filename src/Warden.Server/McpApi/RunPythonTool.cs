using System.ComponentModel;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Warden.Core.Execution;
using Warden.Core.Sessions;

namespace Warden.Server.McpApi;

/// <summary><c>run_python</c>: one cell in the caller's persistent python kernel for this conversation (<see cref="McpKernels"/>).</summary>
[McpServerToolType]
internal sealed class RunPythonTool(IMcpCaller caller, McpKernels kernels)
{
    [McpServerTool(Name = "run_python", Title = "Run Python in a persistent kernel", Destructive = false, OpenWorld = false)]
    [Description("Run Python code in your persistent, sandboxed Python kernel for this conversation, like a Jupyter notebook cell. "
        + "Variables, imports and files persist between calls; the kernel is discarded after a period of inactivity. "
        + "Returns stdout, stderr, the value of the last expression and, on failure, the traceback. "
        + "Figures shown with matplotlib (plt.show() or a figure as the last expression) are returned as images.")]
    public async Task<CallToolResult> RunAsync(McpServer server,
        [Description("The Python code of one cell.")] string code,
        [Description("Wall-clock limit of this cell in seconds (default and maximum set by the server).")] double? timeout = null,
        IProgress<ProgressNotificationValue>? progress = null,
        CancellationToken cancellationToken = default)
    {
        try
        {
            if (string.IsNullOrEmpty(code)) throw new InvalidRequestException("code is empty.", "code");
            using var admitted = await caller.AdmitAsync(cancellationToken);
            var session = await kernels.GetOrStartAsync(caller.Requester(), McpConversation.Of(caller, server), cancellationToken);
            // A cancelled call interrupts the cell (KeyboardInterrupt, then the kernel is killed if it does not stop).
            var cell = session.ExecuteAsync(new CellRequest(code, timeout), onOutput: null, cancellationToken);
            return ToolResults.From(progress is null ? await cell : await ToolProgress.WhileRunningAsync(progress, cell, cancellationToken));
        }
        catch (WardenException e)
        {
            return ToolResults.Refused(e);
        }
    }
}
