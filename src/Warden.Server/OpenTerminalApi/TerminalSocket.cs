using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Warden.Core.Terminals;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// The WebSocket of one interactive terminal, open-terminal 0.11.34's protocol: the first frame is text
/// <c>{"type":"auth","token":…}</c> within 10 s (else close 4001); keystrokes arrive as binary frames, <c>{"type":"resize"}</c>
/// as text (other text, such as Open WebUI's pings, is ignored); output leaves as binary frames. The terminal must be
/// the authenticated user's own, and the attaching chat's when the attach names one (else 4004, as for an unknown id);
/// one WebSocket at a time (4009). When either side ends, the terminal is destroyed, as open-terminal does.
/// Unlike open-terminal, an unknown id is told only after authentication, so a stranger learns nothing about ids.
/// </summary>
internal static partial class TerminalSocket
{
    private static readonly TimeSpan AuthTimeout = TimeSpan.FromSeconds(10);
    private const int MaxControlBytes = 64 << 10;
    private const int MaxInputBytes = 1 << 20;

    public static async Task RunAsync(HttpContext context, string id)
    {
        var cancellationToken = context.RequestAborted;
        var services = context.RequestServices;
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(TerminalSocket));
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        // A receive cancelled by a token aborts a WebSocket (no close frame could follow), so receives are never cancelled:
        // the auth wait races a timer, and the pump ends its receive by closing.
        var first = ReceiveMessageAsync(socket, MaxControlBytes, cancellationToken);
        var auth = await Task.WhenAny(first, Task.Delay(AuthTimeout, cancellationToken)) == first
            ? await ParseAuthAsync(first) : new AuthFrame(null, null, "Auth timeout or invalid payload");
        if (auth.Token is null)
        {
            await CloseAsync(socket, 4001, auth.Reason, first);
            return;
        }
        var identity = await services.GetRequiredService<TerminalSocketIdentity>().AuthenticateAsync(context, auth.Token, cancellationToken);
        if (!identity.Authenticated)
        {
            await CloseAsync(socket, 4001, "Invalid API key", null);
            return;
        }
        var chat = context.Request.Headers["X-Session-Id"].ToString() is { Length: > 0 } header ? header : auth.ChatId;
        var user = identity.Owner is null ? null : services.GetRequiredService<TerminalManager>().Find(identity.Owner, TerminalPolicies.PolicyRouting.PolicyOf(context)?.Id);
        var terminal = user?.FindInteractive(id, chat, anyChat: chat is null);
        if (terminal is null)
        {
            await CloseAsync(socket, 4004, "Session not found", null);
            return;
        }
        if (!terminal.TryAttach())
        {
            await CloseAsync(socket, 4009, "Session already connected", null);
            return;
        }
        Log.Attached(logger, id);
        using var stopOutput = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var output = SendOutputAsync(socket, terminal, stopOutput.Token);
        var input = ReceiveInputAsync(socket, terminal, cancellationToken);
        // The output ends first when the shell exited (or the sandbox stopped); the input when the client went.
        if (await Task.WhenAny(output, input) == output)
        {
            await CloseAsync(socket, (int)WebSocketCloseStatus.NormalClosure, "Session has ended", input);
        }
        else
        {
            await stopOutput.CancelAsync();
            await output;
            await CloseAsync(socket, (int)WebSocketCloseStatus.NormalClosure, "closed", input);
        }
        // Either side ended: the terminal goes with its WebSocket (open-terminal keeps no scrollback to reattach to).
        await user!.CloseInteractiveAsync(id, terminal.SessionId, CancellationToken.None);
        Log.Detached(logger, id);
    }

    private sealed record AuthFrame(string? Token, string? ChatId, string Reason);

    private static async Task<AuthFrame> ParseAuthAsync(Task<(WebSocketMessageType Type, byte[]? Data)> received)
    {
        const string invalid = "Auth timeout or invalid payload";
        try
        {
            var (type, frame) = await received;
            if (type != WebSocketMessageType.Text || frame is null) return new AuthFrame(null, null, invalid);
            using var document = JsonDocument.Parse(frame);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return new AuthFrame(null, null, invalid);
            if (!root.TryGetProperty("type", out var kind) || kind.ValueKind != JsonValueKind.String || kind.GetString() != "auth"
                || !root.TryGetProperty("token", out var token) || token.ValueKind != JsonValueKind.String)
                return new AuthFrame(null, null, "Invalid API key");
            var chat = root.TryGetProperty("chat_id", out var c) && c.ValueKind == JsonValueKind.String && c.GetString() is { Length: > 0 } id ? id : null;
            return new AuthFrame(token.GetString()!, chat, "");
        }
        catch (Exception e) when (e is OperationCanceledException or JsonException or WebSocketException)
        {
            return new AuthFrame(null, null, invalid);
        }
    }

    /// <summary>One whole message, or null when it is larger than <paramref name="maxBytes"/> or the peer closed.</summary>
    private static async Task<(WebSocketMessageType Type, byte[]? Data)> ReceiveMessageAsync(WebSocket socket, int maxBytes, CancellationToken cancellationToken)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        while (true)
        {
            var memory = buffer.GetMemory(4096);
            var result = await socket.ReceiveAsync(memory, cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close) return (WebSocketMessageType.Close, null);
            buffer.Advance(result.Count);
            if (buffer.WrittenCount > maxBytes) return (result.MessageType, null);
            if (result.EndOfMessage) return (result.MessageType, buffer.WrittenSpan.ToArray());
        }
    }

    private static async Task SendOutputAsync(WebSocket socket, InteractiveTerminal terminal, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var chunk in terminal.Output.ReadAllAsync(cancellationToken))
            {
                await socket.SendAsync(chunk, WebSocketMessageType.Binary, endOfMessage: true, cancellationToken);
                // Acknowledged once handed to the socket: a client that does not read stalls the send, and with it the shell.
                await terminal.AcknowledgeAsync(chunk.Length, cancellationToken);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or TerminalException or ObjectDisposedException)
        {
        }
    }

    private static async Task ReceiveInputAsync(WebSocket socket, InteractiveTerminal terminal, CancellationToken cancellationToken)
    {
        try
        {
            while (socket.State == WebSocketState.Open)
            {
                var (type, data) = await ReceiveMessageAsync(socket, MaxInputBytes, cancellationToken);
                if (type == WebSocketMessageType.Close) return;
                if (data is null) continue; // larger than any keystroke or paste this server takes: dropped
                if (type == WebSocketMessageType.Binary) await terminal.WriteInputAsync(data, cancellationToken);
                else if (Resize(data) is { } size) await terminal.ResizeAsync(size.Cols, size.Rows, cancellationToken);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or TerminalException or ObjectDisposedException)
        {
        }
    }

    /// <summary>A text frame's <c>{"type":"resize","cols":C,"rows":R}</c> (open-terminal's defaults 80×24 for a missing size), else null.</summary>
    private static (int Cols, int Rows)? Resize(byte[] text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type", out var kind) || kind.ValueKind != JsonValueKind.String
                || kind.GetString() != "resize") return null;
            static int Size(JsonElement root, string name, int fallback) =>
                root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : fallback;
            return (Size(root, "cols", 80), Size(root, "rows", 24));
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Sends the close frame, then waits briefly for the client's (through <paramref name="pendingReceive"/> when a
    /// receive is already outstanding, else by draining); a client that never answers is cut off when the socket is disposed.
    /// </summary>
    private static async Task CloseAsync(WebSocket socket, int code, string reason, Task? pendingReceive)
    {
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await socket.CloseOutputAsync((WebSocketCloseStatus)code, reason, timeout.Token);
            }
            if (pendingReceive is not null)
            {
                await Task.WhenAny(pendingReceive, Task.Delay(TimeSpan.FromSeconds(2)));
                return;
            }
            var buffer = new byte[4096];
            using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            while (socket.State == WebSocketState.CloseSent)
                if ((await socket.ReceiveAsync(buffer, drain.Token)).MessageType == WebSocketMessageType.Close) break;
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.InteractiveTerminalAttached, LogLevel.Debug, "Interactive terminal {TerminalId} attached")]
        public static partial void Attached(ILogger logger, string terminalId);

        [LoggerMessage(Diagnostics.EventIds.InteractiveTerminalDetached, LogLevel.Debug, "Interactive terminal {TerminalId} detached and closed")]
        public static partial void Detached(ILogger logger, string terminalId);
    }
}
