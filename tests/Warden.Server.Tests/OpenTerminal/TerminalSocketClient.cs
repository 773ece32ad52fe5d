using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>A client of an interactive terminal's WebSocket, as Open WebUI's panel (or its proxy) speaks to it.</summary>
public sealed class TerminalSocketClient : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;
    private readonly StringBuilder _screen = new();
    private readonly SemaphoreSlim _receiving = new(1, 1);

    private TerminalSocketClient(ClientWebSocket socket) => _socket = socket;

    public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;

    public string? CloseReason => _socket.CloseStatusDescription;

    /// <summary>Everything the terminal printed so far.</summary>
    public string Screen => _screen.ToString();

    /// <summary>Connects to <c>/terminal/api/terminals/{id}</c>; <paramref name="userQuery"/> is Open WebUI's <c>?user_id=</c>.</summary>
    public static async Task<TerminalSocketClient> ConnectAsync(TerminalTestServer server, string id, string? userQuery, string? userHeader = null,
        string? chatHeader = null, string prefix = "")
    {
        var socket = new ClientWebSocket();
        if (userHeader is not null) socket.Options.SetRequestHeader("X-User-Id", userHeader);
        if (chatHeader is not null) socket.Options.SetRequestHeader("X-Session-Id", chatHeader);
        var builder = new UriBuilder(server.Server.Address) { Scheme = "ws", Path = $"/terminal/{prefix}api/terminals/{id}" };
        if (userQuery is not null) builder.Query = "user_id=" + Uri.EscapeDataString(userQuery);
        await socket.ConnectAsync(builder.Uri, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        return new TerminalSocketClient(socket);
    }

    /// <summary>Connects and sends the auth frame with the API key (what Open WebUI's proxy does for a bearer connection);
    /// <paramref name="prefix"/> is a Terminals policy's route, e.g. <c>p/{policy}/</c>.</summary>
    public static async Task<TerminalSocketClient> AttachAsync(TerminalTestServer server, string id, string user, string? chatId = null, string prefix = "")
    {
        var client = await ConnectAsync(server, id, user, prefix: prefix);
        await client.SendTextAsync(chatId is null
            ? JsonSerializer.Serialize(new { type = "auth", token = TerminalTestServer.ApiKey })
            : JsonSerializer.Serialize(new { type = "auth", token = TerminalTestServer.ApiKey, chat_id = chatId }));
        return client;
    }

    public Task SendTextAsync(string text) =>
        _socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, TestContext.Current.CancellationToken);

    public Task SendKeysAsync(string keys) =>
        _socket.SendAsync(Encoding.UTF8.GetBytes(keys), WebSocketMessageType.Binary, true, TestContext.Current.CancellationToken);

    public Task ResizeAsync(int cols, int rows) => SendTextAsync(JsonSerializer.Serialize(new { type = "resize", cols, rows }));

    /// <summary>Reads output until the screen matches <paramref name="done"/>; fails the test after <paramref name="seconds"/>.</summary>
    public async Task<string> ReadUntilAsync(Func<string, bool> done, double seconds = 30)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(seconds));
        var buffer = new byte[65536];
        await _receiving.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            while (!done(Screen))
            {
                WebSocketReceiveResult result;
                try { result = await _socket.ReceiveAsync(buffer, timeout.Token); }
                catch (OperationCanceledException) { Assert.Fail($"The terminal did not print what was expected within {seconds} s. Screen:\n{Screen}"); throw; }
                if (result.MessageType == WebSocketMessageType.Close)
                    Assert.Fail($"The terminal closed ({result.CloseStatus} {result.CloseStatusDescription}) before printing what was expected. Screen:\n{Screen}");
                _screen.Append(Encoding.UTF8.GetString(buffer, 0, result.Count));
            }
            return Screen;
        }
        finally
        {
            _receiving.Release();
        }
    }

    /// <summary>
    /// Reads a large output without keeping it: counts <paramref name="word"/> until <paramref name="end"/> appears
    /// (both ASCII; a match split across frames is found through the carried tail).
    /// </summary>
    public async Task<long> CountUntilAsync(string word, string end, double seconds)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(seconds));
        var buffer = new byte[65536];
        long count = 0;
        string carry = "";
        while (true)
        {
            var result = await _socket.ReceiveAsync(buffer, timeout.Token);
            Assert.NotEqual(WebSocketMessageType.Close, result.MessageType);
            var text = carry + Encoding.ASCII.GetString(buffer, 0, result.Count);
            int at = 0;
            while ((at = text.IndexOf(word, at, StringComparison.Ordinal)) >= 0)
            {
                count++;
                at += word.Length;
            }
            if (text.Contains(end, StringComparison.Ordinal)) return count;
            // Keep a tail shorter than the word, so that a match is never counted twice.
            int keep = Math.Min(text.Length, Math.Max(word.Length, end.Length) - 1);
            carry = text[^keep..];
        }
    }

    public Task<string> ReadUntilAsync(string text, double seconds = 30) => ReadUntilAsync(s => s.Contains(text, StringComparison.Ordinal), seconds);

    /// <summary>Waits for the server to close the socket and returns its close code and reason (fails if output comes instead... it is kept).</summary>
    public async Task<(int Code, string? Reason)> ClosedAsync(double seconds = 20)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(seconds));
        var buffer = new byte[65536];
        while (true)
        {
            WebSocketReceiveResult result;
            try { result = await _socket.ReceiveAsync(buffer, timeout.Token); }
            catch (OperationCanceledException) { Assert.Fail($"The server did not close the WebSocket within {seconds} s."); throw; }
            catch (WebSocketException) { return ((int?)_socket.CloseStatus ?? -1, _socket.CloseStatusDescription); }
            if (result.MessageType == WebSocketMessageType.Close) return ((int)result.CloseStatus!, result.CloseStatusDescription);
            _screen.Append(Encoding.UTF8.GetString(buffer, 0, result.Count));
        }
    }

    public async Task CloseAsync()
    {
        if (_socket.State == WebSocketState.Open)
            await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", TestContext.Current.CancellationToken);
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        _receiving.Dispose();
        return ValueTask.CompletedTask;
    }
}
