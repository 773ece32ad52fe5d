using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Warden.Core.Execution;
using Warden.Core.Ownership;
using Warden.Core.Sessions;

namespace Warden.Server.JupyterApi;

/// <summary>
/// One client's WebSocket to a kernel (<c>/api/kernels/{id}/channels</c>). Control messages are handled as they
/// arrive (so an interrupt reaches a busy kernel); shell messages run one after another. Outputs go out on iopub to
/// every connection of the kernel, replies only to the asking connection.
/// </summary>
[SuppressMessage("Reliability", "CA1001", Justification = "_sendLock never creates a wait handle; a send racing the socket's close must not meet a disposed lock.")]
internal sealed partial class KernelConnection(WebSocket socket, Session session, bool binary, KernelConnections connections,
    SessionManager sessions, ILogger logger)
{
    private const int MaxFrameBytes = 64 << 20;
    private readonly SemaphoreSlim _sendLock = new(1, 1);

    public string KernelId => session.Id;

    /// <summary>header.session of every message this kernel sends (one per kernel, like a real kernel's Session).</summary>
    private string KernelSession => session.Id;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        connections.Add(this);
        var shell = Channel.CreateUnbounded<JupyterMessage>(new UnboundedChannelOptions { SingleReader = true });
        var worker = Task.Run(() => ProcessShellAsync(shell.Reader, cancellationToken), CancellationToken.None);
        try
        {
            while (socket.State == WebSocketState.Open && await ReceiveAsync(cancellationToken) is { } message)
            {
                session.Touch();
                if (message.Channel == "control") await HandleControlAsync(message, cancellationToken);
                else if (message.Channel == "shell") shell.Writer.TryWrite(message);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
        }
        finally
        {
            shell.Writer.TryComplete();
            connections.Remove(this);
            // A cell still running finishes in the kernel (as with Jupyter); only its outputs have nowhere to go.
            await worker.WaitAsync(TimeSpan.FromSeconds(1), CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private async Task<JupyterMessage?> ReceiveAsync(CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        while (true)
        {
            var memory = buffer.GetMemory(65536);
            var result = await socket.ReceiveAsync(memory, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                await CloseAsync(WebSocketCloseStatus.NormalClosure, "closed");
                return null;
            }
            buffer.Advance(result.Count);
            if (buffer.WrittenCount > MaxFrameBytes)
            {
                await CloseAsync(WebSocketCloseStatus.MessageTooBig, "message too large");
                return null;
            }
            if (!result.EndOfMessage) continue;
            var message = result.MessageType == WebSocketMessageType.Binary && binary
                ? JupyterWire.FromV1(buffer.WrittenSpan)
                : result.MessageType == WebSocketMessageType.Text ? JupyterWire.FromJson(buffer.WrittenSpan) : null;
            if (message is not null) return message;
            Log.BadFrame(logger, session.Id);
            buffer.Clear();
        }
    }

    private async Task ProcessShellAsync(ChannelReader<JupyterMessage> shell, CancellationToken cancellationToken)
    {
        await foreach (var request in shell.ReadAllAsync(CancellationToken.None))
        {
            try
            {
                await PublishStatusAsync(request, "busy");
                await HandleShellAsync(request, cancellationToken);
                await PublishStatusAsync(request, "idle");
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Log.ShellFailed(logger, session.Id, request.MsgType, e);
                await PublishStatusAsync(request, "idle");
            }
        }
    }

    private Task HandleShellAsync(JupyterMessage request, CancellationToken cancellationToken) => request.MsgType switch
    {
        "execute_request" => ExecuteAsync(request, cancellationToken),
        "kernel_info_request" => ReplyAsync(request, "kernel_info_reply", KernelInfo()),
        "is_complete_request" => ReplyAsync(request, "is_complete_reply", new JsonObject { ["status"] = "unknown" }),
        "complete_request" => ReplyAsync(request, "complete_reply", new JsonObject
        {
            ["status"] = "ok", ["matches"] = new JsonArray(), ["cursor_start"] = CursorPos(request), ["cursor_end"] = CursorPos(request),
            ["metadata"] = new JsonObject(),
        }),
        "inspect_request" => ReplyAsync(request, "inspect_reply", new JsonObject
        {
            ["status"] = "ok", ["found"] = false, ["data"] = new JsonObject(), ["metadata"] = new JsonObject(),
        }),
        "history_request" => ReplyAsync(request, "history_reply", new JsonObject { ["status"] = "ok", ["history"] = new JsonArray() }),
        "comm_info_request" => ReplyAsync(request, "comm_info_reply", new JsonObject { ["status"] = "ok", ["comms"] = new JsonObject() }),
        _ => Task.CompletedTask,
    };

    private async Task HandleControlAsync(JupyterMessage request, CancellationToken cancellationToken)
    {
        switch (request.MsgType)
        {
            case "interrupt_request":
                await session.InterruptAsync(cancellationToken);
                await ReplyAsync(request, "interrupt_reply", new JsonObject { ["status"] = "ok" });
                break;
            case "kernel_info_request":
                await ReplyAsync(request, "kernel_info_reply", KernelInfo());
                break;
            case "shutdown_request":
                bool restart = request.Content["restart"] is JsonValue r && r.TryGetValue<bool>(out var b) && b;
                if (restart) await session.RestartAsync(cancellationToken);
                // The connection was admitted for this very session, so it acts as the session's owner.
                else await sessions.DeleteAsync(session.Id, new Requester(session.Owner), cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default);
                var reply = new JsonObject { ["status"] = "ok", ["restart"] = restart };
                await ReplyAsync(request, "shutdown_reply", reply);
                await PublishAsync(JupyterMessage.Reply(request, "iopub", "shutdown_reply", KernelSession, (JsonObject)reply.DeepClone()));
                if (!restart) await connections.CloseAllAsync(session.Id);
                break;
        }
    }

    private async Task ExecuteAsync(JupyterMessage request, CancellationToken cancellationToken)
    {
        var code = request.Content["code"] is JsonValue c && c.TryGetValue<string>(out var text) ? text : "";
        bool silent = request.Content["silent"] is JsonValue s && s.TryGetValue<bool>(out var quiet) && quiet;
        int count = session.ExecutionCount + 1;
        if (!silent)
            await PublishAsync(JupyterMessage.Reply(request, "iopub", "execute_input", KernelSession,
                new JsonObject { ["code"] = code, ["execution_count"] = count }));

        CellResult result;
        try
        {
            result = await session.ExecuteAsync(new CellRequest(code), (output, _) => PublishOutputAsync(request, output, silent),
                cancellationToken);
        }
        catch (WardenException e)
        {
            // Refused before it ran (code too large, session gone): a Jupyter error, not a dropped socket.
            await PublishAsync(JupyterMessage.Reply(request, "iopub", "error", KernelSession, ErrorContent(e.GetType().Name, e.Message, [e.Message])));
            await ReplyAsync(request, "execute_reply", ErrorReply(count, e.GetType().Name, e.Message, [e.Message]));
            return;
        }

        if (result.Status is not (ExecutionStatus.Success or ExecutionStatus.Error) && result.Detail is { } detail)
            await PublishOutputAsync(request, new StreamOutput("stderr", $"[warden] {detail}\n"), silent: false);
        if (result.Status == ExecutionStatus.Success)
        {
            await ReplyAsync(request, "execute_reply", new JsonObject
            {
                ["status"] = "ok", ["execution_count"] = result.ExecutionCount, ["user_expressions"] = new JsonObject(), ["payload"] = new JsonArray(),
            });
        }
        else
        {
            var (ename, evalue, traceback) = result.Error is { } e
                ? (e.Name, e.Value, e.Traceback)
                : (result.Status.ToWireName(), result.Detail ?? "", (IReadOnlyList<string>)[result.Detail ?? ""]);
            await ReplyAsync(request, "execute_reply", ErrorReply(result.ExecutionCount, ename, evalue, traceback));
        }
    }

    private ValueTask PublishOutputAsync(JupyterMessage request, CellOutput output, bool silent)
    {
        JupyterMessage? message = output switch
        {
            StreamOutput s => JupyterMessage.Reply(request, "iopub", "stream", KernelSession, new JsonObject { ["name"] = s.Name, ["text"] = s.Text }),
            DisplayDataOutput d => JupyterMessage.Reply(request, "iopub", "display_data", KernelSession, new JsonObject
            {
                ["data"] = JsonNode.Parse(d.Data.GetRawText()), ["metadata"] = JsonNode.Parse(d.Metadata.GetRawText()), ["transient"] = new JsonObject(),
            }),
            ExecuteResultOutput r when !silent => JupyterMessage.Reply(request, "iopub", "execute_result", KernelSession, new JsonObject
            {
                ["execution_count"] = r.ExecutionCount, ["data"] = JsonNode.Parse(r.Data.GetRawText()),
                ["metadata"] = JsonNode.Parse(r.Metadata.GetRawText()),
            }),
            ErrorOutput e => JupyterMessage.Reply(request, "iopub", "error", KernelSession, ErrorContent(e.Name, e.Value, e.Traceback)),
            _ => null,
        };
        return message is null ? ValueTask.CompletedTask : new ValueTask(PublishAsync(message));
    }

    private static JsonObject ErrorContent(string ename, string evalue, IReadOnlyList<string> traceback) => new()
    {
        ["ename"] = ename, ["evalue"] = evalue, ["traceback"] = new JsonArray(traceback.Select(t => (JsonNode?)JsonValue.Create(t)).ToArray()),
    };

    private static JsonObject ErrorReply(int count, string ename, string evalue, IReadOnlyList<string> traceback)
    {
        var content = ErrorContent(ename, evalue, traceback);
        content["status"] = "error";
        content["execution_count"] = count;
        return content;
    }

    private JsonObject KernelInfo()
    {
        var kernel = session.Kernel;
        var languageInfo = new JsonObject
        {
            ["name"] = kernel.Language, ["version"] = kernel.Version, ["mimetype"] = kernel.Mimetype, ["file_extension"] = kernel.FileExtension,
        };
        if (kernel.PygmentsLexer is { } lexer) languageInfo["pygments_lexer"] = lexer;
        if (kernel.CodeMirrorMode is { } mode) languageInfo["codemirror_mode"] = mode;
        return new JsonObject
        {
            ["status"] = "ok", ["protocol_version"] = JupyterMessage.ProtocolVersion, ["implementation"] = "warden-" + kernel.Language,
            ["implementation_version"] = Hosting.WardenVersion.Current, ["language_info"] = languageInfo,
            ["banner"] = $"{kernel.DisplayName}: runs in a Warden sandbox", ["help_links"] = new JsonArray(), ["debugger"] = false,
        };
    }

    private static int CursorPos(JupyterMessage request) =>
        request.Content["cursor_pos"] is JsonValue v && v.TryGetValue<int>(out var pos) ? pos : 0;

    private Task PublishStatusAsync(JupyterMessage parent, string state) =>
        PublishAsync(JupyterMessage.Reply(parent, "iopub", "status", KernelSession, new JsonObject { ["execution_state"] = state }));

    /// <summary>iopub is a broadcast: every client connected to this kernel sees it.</summary>
    private Task PublishAsync(JupyterMessage message) => connections.BroadcastAsync(session.Id, message);

    private Task ReplyAsync(JupyterMessage request, string msgType, JsonObject content) =>
        SendAsync(JupyterMessage.Reply(request, request.Channel, msgType, KernelSession, content));

    public async Task SendAsync(JupyterMessage message)
    {
        var frame = binary ? JupyterWire.ToV1(message) : JupyterWire.ToJson(message);
        await _sendLock.WaitAsync(CancellationToken.None);
        try
        {
            if (socket.State != WebSocketState.Open) return;
            await socket.SendAsync(frame, binary ? WebSocketMessageType.Binary : WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        }
        // An aborted connection is an OperationCanceledException("Aborted") here too: the client is gone.
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or IOException or OperationCanceledException)
        {
        }
        finally
        {
            _sendLock.Release();
        }
    }

    public async Task CloseAsync(WebSocketCloseStatus status, string reason)
    {
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                await socket.CloseAsync(status, reason, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(2));
        }
        // A client that drops its connection while Warden closes it (a kernel deleted as its page goes away) surfaces as
        // OperationCanceledException("Aborted") around the WebSocketException: the socket is gone either way, which is
        // the point of closing it, and never a 500 for the DELETE that asked.
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or IOException or TimeoutException or OperationCanceledException)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(3001, LogLevel.Debug, "Kernel {KernelId}: ignored a frame that is not a Jupyter message")]
        public static partial void BadFrame(ILogger logger, string kernelId);

        [LoggerMessage(3002, LogLevel.Warning, "Kernel {KernelId}: handling {MsgType} failed")]
        public static partial void ShellFailed(ILogger logger, string kernelId, string msgType, Exception exception);
    }
}
