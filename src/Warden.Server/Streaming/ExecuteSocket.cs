using System.IO.Pipelines;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Server.Hosting;
using Warden.Server.NativeApi;

namespace Warden.Server.Streaming;

/// <summary>
/// <c>/api/v1/execute/ws</c>: one execution per connection. The client's first text message is the execute request
/// (as for <c>/api/v1/execute</c>, plus <c>"interactive": true</c> to keep stdin open); then it may send
/// <c>{"type":"stdin","data":"…"}</c> and <c>{"type":"eof"}</c>. The server sends <c>{"type":"stdout"|"stderr","stage","data"}</c>
/// as output arrives, then <c>{"type":"result","result":{…}}</c> or <c>{"type":"error","error":{problem}}</c>, and closes.
/// Interactive stdin is bounded by Warden:Limits:MaxStdinBytes; the program's wall-clock limit applies as always.
/// </summary>
internal static class ExecuteSocket
{
    private const int MaxMessageBytes = 8 << 20;

    /// <summary>The first message is an execute request plus this socket-only field.</summary>
    private static readonly Dictionary<string, Type> SocketFields = new() { ["interactive"] = typeof(bool?) };

    public static async Task RunAsync(HttpContext context, ExecutionRunner runner, IOptions<LimitsOptions> limits, CancellationToken cancellationToken)
    {
        if (!context.WebSockets.IsWebSocketRequest)
            throw new InvalidRequestException("This endpoint takes a WebSocket (Upgrade: websocket).");
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var outbound = Channel.CreateUnbounded<SocketMessage>(new UnboundedChannelOptions { SingleReader = true });
        var sender = SendLoopAsync(socket, outbound.Reader, cancellationToken);
        var stdin = new Pipe();
        try
        {
            var first = await ReceiveTextAsync(socket, cancellationToken);
            if (first is null) return;
            var utf8 = Encoding.UTF8.GetBytes(first);
            var body = RequestBody.Parse<ExecuteRequest>(utf8, NativeJson.Options, UnknownFields.Reject, SocketFields);
            bool interactive;
            using (var json = JsonDocument.Parse(utf8, new JsonDocumentOptions { MaxDepth = RequestBody.MaxDepth }))
                interactive = json.RootElement.TryGetProperty("interactive", out var i) && i.ValueKind == JsonValueKind.True;
            var decoder = new OutputDecoder();
            var request = body.ToCore() with
            {
                Output = chunk =>
                {
                    var e = decoder.Decode(chunk);
                    if (e.Data.Length > 0) outbound.Writer.TryWrite(Message(e));
                },
                StdinStream = interactive ? stdin.Reader.AsStream() : null,
            };
            var receiver = interactive ? ReceiveStdinAsync(socket, stdin.Writer, limits.Value.MaxStdinBytes, cancellationToken) : Task.CompletedTask;
            try
            {
                var result = await runner.RunAsync(context, request, "websocket", cancellationToken);
                foreach (var rest in decoder.Flush().Where(r => r.Data.Length > 0)) outbound.Writer.TryWrite(Message(rest));
                outbound.Writer.TryWrite(new SocketMessage("result") { Result = ExecuteResponse.From(result, collected: body.CollectFiles == true) });
            }
            finally
            {
                await stdin.Writer.CompleteAsync();
                await stdin.Reader.CompleteAsync();
            }
            _ = receiver;
        }
        catch (WardenException e)
        {
            var (status, kind, title) = WardenExceptionHandler.Classify(e);
            outbound.Writer.TryWrite(new SocketMessage("error")
            {
                Error = new ProblemDetails { Status = status, Type = WardenExceptionHandler.TypeBase + kind, Title = title, Detail = e.Message },
            });
        }
        finally
        {
            outbound.Writer.TryComplete();
            await sender;
        }
        if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            try { await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", cancellationToken); }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException) { }
        }
        await DrainAsync(socket, cancellationToken);
    }

    /// <summary>
    /// Reads what the client still sends until its close frame (or a short while): closing the connection with its
    /// messages unread makes the kernel reset it, and the client can then lose the answer it has not read yet.
    /// </summary>
    private static async Task DrainAsync(WebSocket socket, CancellationToken cancellationToken)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        wait.CancelAfter(TimeSpan.FromSeconds(2));
        var buffer = new byte[16 * 1024];
        try
        {
            while (socket.State == WebSocketState.CloseSent)
            {
                if ((await socket.ReceiveAsync(buffer, wait.Token)).MessageType == WebSocketMessageType.Close) break;
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
            // Gone, or silent for too long: nothing more to wait for.
        }
    }

    private static SocketMessage Message(StreamEvent e) => SocketMessage.Output(e);

    private static async Task SendLoopAsync(WebSocket socket, ChannelReader<SocketMessage> messages, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var message in messages.ReadAllAsync(cancellationToken))
            {
                var bytes = JsonSerializer.SerializeToUtf8Bytes(message, NativeJson.Options.Info<SocketMessage>());
                await socket.SendAsync(bytes, WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
            // The client went away; the request token kills the execution.
        }
    }

    /// <summary>Copies stdin messages into the pipe the program reads, until eof, close, or the stdin cap.</summary>
    private static async Task ReceiveStdinAsync(WebSocket socket, PipeWriter stdin, long maxBytes, CancellationToken cancellationToken)
    {
        long total = 0;
        try
        {
            while (await ReceiveTextAsync(socket, cancellationToken) is { } text)
            {
                using var json = JsonDocument.Parse(text);
                var type = json.RootElement.TryGetProperty("type", out var t) ? t.GetString() : null;
                if (type == "eof") break;
                if (type != "stdin" || !json.RootElement.TryGetProperty("data", out var d) || d.GetString() is not { } data) continue;
                var bytes = Encoding.UTF8.GetBytes(data);
                total += bytes.Length;
                if (total > maxBytes) break;
                await stdin.WriteAsync(bytes, cancellationToken);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or JsonException or InvalidOperationException)
        {
            // A broken or finished conversation ends stdin.
        }
        finally
        {
            await stdin.CompleteAsync();
        }
    }

    private static async Task<string?> ReceiveTextAsync(WebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer, cancellationToken);
            if (received.MessageType == WebSocketMessageType.Close) return null;
            message.Write(buffer, 0, received.Count);
            if (message.Length > MaxMessageBytes) throw new PayloadTooLargeException($"WebSocket messages are limited to {MaxMessageBytes} bytes.");
            if (received.EndOfMessage) return Encoding.UTF8.GetString(message.GetBuffer(), 0, (int)message.Length);
        }
    }
}
