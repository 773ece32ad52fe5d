using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Warden.Server.Tests.Cluster;

/// <summary>A Jupyter kernel's channels WebSocket (JSON frames, protocol 5.3), enough to run a cell and read its result.</summary>
internal sealed class KernelSocket : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;

    private KernelSocket(ClientWebSocket socket) => _socket = socket;

    /// <summary>The replica that served the handshake (<c>X-Warden-Replica</c> of the 101 answer).</summary>
    public string? Replica { get; private set; }

    public WebSocketState State => _socket.State;

    public WebSocketCloseStatus? CloseStatus => _socket.CloseStatus;

    public string? CloseDescription => _socket.CloseStatusDescription;

    public static async Task<KernelSocket> ConnectAsync(Uri server, string kernelId, string token, CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        var url = new UriBuilder(server) { Scheme = "ws", Path = $"/api/kernels/{kernelId}/channels", Query = "token=" + Uri.EscapeDataString(token) }.Uri;
        await socket.ConnectAsync(url, cancellationToken).WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);
        var kernel = new KernelSocket(socket);
        if (socket.HttpResponseHeaders?.TryGetValue("X-Warden-Replica", out var replica) == true) kernel.Replica = replica.FirstOrDefault();
        return kernel;
    }

    /// <summary>Sends an execute_request and gathers stdout and the execute_result's text/plain until the kernel is idle again.</summary>
    public async Task<(string Stdout, string? Result)> ExecuteAsync(string code, CancellationToken cancellationToken)
    {
        var id = Guid.NewGuid().ToString("N");
        var request = new JsonObject
        {
            ["header"] = new JsonObject { ["msg_id"] = id, ["msg_type"] = "execute_request", ["username"] = "test", ["session"] = Guid.NewGuid().ToString("N"), ["date"] = "", ["version"] = "5.3" },
            ["parent_header"] = new JsonObject(), ["metadata"] = new JsonObject(), ["channel"] = "shell",
            ["content"] = new JsonObject { ["code"] = code, ["silent"] = false, ["store_history"] = true, ["user_expressions"] = new JsonObject(), ["allow_stdin"] = false, ["stop_on_error"] = true },
        };
        await _socket.SendAsync(Encoding.UTF8.GetBytes(request.ToJsonString()), WebSocketMessageType.Text, true, cancellationToken);
        var stdout = new StringBuilder();
        string? result = null;
        while (true)
        {
            var message = await ReceiveAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(60), cancellationToken)
                ?? throw new WebSocketException($"The socket closed: {_socket.CloseStatus} {_socket.CloseStatusDescription}");
            if (message.RootElement.GetProperty("parent_header").TryGetProperty("msg_id", out var parent)
                && (parent.ValueKind != JsonValueKind.String || parent.GetString() != id)) continue;
            var content = message.RootElement.GetProperty("content");
            switch (message.RootElement.GetProperty("msg_type").GetString())
            {
                case "stream": stdout.Append(content.GetProperty("text").GetString()); break;
                case "execute_result": result = content.GetProperty("data").GetProperty("text/plain").GetString(); break;
                case "status" when content.GetProperty("execution_state").GetString() == "idle": return (stdout.ToString(), result);
            }
        }
    }

    /// <summary>Sends one text frame as it is (a message of any shape).</summary>
    public Task SendRawAsync(string json, CancellationToken cancellationToken) =>
        _socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, true, cancellationToken);

    /// <summary>The next message, or null once the socket is closed.</summary>
    public async Task<JsonDocument?> ReceiveAsync(CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[65536];
        while (true)
        {
            var received = await _socket.ReceiveAsync(chunk, cancellationToken);
            if (received.MessageType == WebSocketMessageType.Close) return null;
            buffer.Write(chunk, 0, received.Count);
            if (received.EndOfMessage) return JsonDocument.Parse(buffer.ToArray());
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_socket.State == WebSocketState.Open)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException) { }
        _socket.Dispose();
    }
}
