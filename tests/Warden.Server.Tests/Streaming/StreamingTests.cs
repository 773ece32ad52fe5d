using System.Diagnostics;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace Warden.Server.Tests.Streaming;

public sealed class StreamingTests(SharedServer shared) : IClassFixture<SharedServer>
{
    [Fact]
    public async Task ExecuteStream_OutputArrivesWhileRunning_ThenResult()
    {
        var ct = TestContext.Current.CancellationToken;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/execute/stream")
        {
            Content = Json.Body(new { language = "python", code = "import sys, time\nprint('first', flush=True)\nprint('oops', file=sys.stderr, flush=True)\ntime.sleep(1.5)\nprint('last')" }),
        };
        var watch = Stopwatch.StartNew();
        using var response = await shared.Server.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = new List<(string Name, JsonElement Data, TimeSpan At)>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
        string? name = null;
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line[7..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) events.Add((name!, JsonDocument.Parse(line[6..]).RootElement, watch.Elapsed));
        }

        var first = events.First(e => e.Name == "stdout");
        Assert.Equal("first\n", first.Data.GetProperty("data").GetString());
        Assert.Equal("run", first.Data.GetProperty("stage").GetString());
        Assert.Contains(events, e => e.Name == "stderr" && e.Data.GetProperty("data").GetString() == "oops\n");
        var result = events[^1];
        Assert.Equal("result", result.Name);
        Assert.Equal("first\nlast\n", result.Data.GetProperty("stdout").GetString());
        Assert.Equal("success", result.Data.GetProperty("status").GetString());
        // The first line was streamed well before the program ended.
        Assert.True(result.At - first.At > TimeSpan.FromSeconds(1), $"first output at {first.At}, result at {result.At}");
    }

    [Fact]
    public async Task ExecuteStream_Compiled_StreamsCompileStageSeparately()
    {
        var ct = TestContext.Current.CancellationToken;
        var response = await shared.Server.Client.PostAsync("/api/v1/execute/stream",
            Json.Body(new { language = "c", code = "int main(){ return undefined_symbol; }" }), ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        Assert.Contains("event: stderr\ndata: {\"stage\":\"compile\"", text);
        Assert.Contains("\"status\":\"compile_error\"", text);
    }

    [Fact]
    public async Task ExecuteStream_BadRequest_IsAnOrdinaryProblem()
    {
        var ct = TestContext.Current.CancellationToken;
        var response = await shared.Server.Client.PostAsync("/api/v1/execute/stream", Json.Body(new { language = "cobol", code = "x" }), ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task WebSocket_InteractiveStdin_ProgramReadsWhatIsSent()
    {
        var ct = TestContext.Current.CancellationToken;
        using var socket = await ConnectAsync(ct);
        await SendAsync(socket, new
        {
            language = "python", interactive = true,
            code = "import sys\nfor line in sys.stdin:\n    print('got ' + line.strip(), flush=True)\nprint('bye')",
        }, ct);
        await SendAsync(socket, new { type = "stdin", data = "one\n" }, ct);
        var echoed = await ReceiveAsync(socket, ct);
        Assert.Equal("stdout", echoed.GetProperty("type").GetString());
        Assert.Equal("got one\n", echoed.GetProperty("data").GetString());
        await SendAsync(socket, new { type = "stdin", data = "two\n" }, ct);
        Assert.Equal("got two\n", (await ReceiveAsync(socket, ct)).GetProperty("data").GetString());
        await SendAsync(socket, new { type = "eof" }, ct);

        JsonElement message;
        do message = await ReceiveAsync(socket, ct); while (message.GetProperty("type").GetString() != "result");
        var result = message.GetProperty("result");
        Assert.Equal("success", result.GetProperty("status").GetString());
        Assert.Equal("got one\ngot two\nbye\n", result.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task WebSocket_NotInteractive_StdinFromRequestOnly()
    {
        var ct = TestContext.Current.CancellationToken;
        using var socket = await ConnectAsync(ct);
        await SendAsync(socket, new { language = "bash", code = "cat; echo end", stdin = "given\n" }, ct);
        JsonElement message;
        do message = await ReceiveAsync(socket, ct); while (message.GetProperty("type").GetString() != "result");
        Assert.Equal("given\nend\n", message.GetProperty("result").GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task WebSocket_UnknownLanguage_SendsErrorProblem()
    {
        var ct = TestContext.Current.CancellationToken;
        using var socket = await ConnectAsync(ct);
        await SendAsync(socket, new { language = "cobol", code = "x" }, ct);
        var message = await ReceiveAsync(socket, ct);
        Assert.Equal("error", message.GetProperty("type").GetString());
        Assert.Equal(400, message.GetProperty("error").GetProperty("status").GetInt32());
    }

    [Theory]
    [InlineData("{\"language\":\"python\",\"code\":\"1\",\"interactiv\":true}", "Unknown field 'interactiv'")]
    [InlineData("{\"language\":\"python\",\"code\":\"1\",\"interactive\":\"yes\"}", "interactive must be true or false")]
    [InlineData("{\"language\":\"python\",\"code\":\"1\",\"timeout\":\"soon\"}", "timeout must be a number")]
    public async Task WebSocket_BadFirstMessage_SendsErrorNamingTheField(string first, string detail)
    {
        var ct = TestContext.Current.CancellationToken;
        using var socket = await ConnectAsync(ct);
        await socket.SendAsync(Encoding.UTF8.GetBytes(first), WebSocketMessageType.Text, true, ct);
        var message = await ReceiveAsync(socket, ct);
        Assert.Equal("error", message.GetProperty("type").GetString());
        Assert.Equal(400, message.GetProperty("error").GetProperty("status").GetInt32());
        Assert.Contains(detail, message.GetProperty("error").GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// Fuzz find: after refusing the first message the server closed the connection with the client's later messages
    /// unread; the kernel reset it, the client's sends broke and the error it had not read yet was lost ("closed without
    /// completing the close handshake"). Fails within a few attempts without the server draining to the close.
    /// </summary>
    [Fact]
    public async Task WebSocket_RefusedRequest_WithMoreMessagesInFlight_StillDeliversTheError()
    {
        var ct = TestContext.Current.CancellationToken;
        for (int attempt = 0; attempt < 50; attempt++)
        {
            using var socket = await ConnectAsync(ct);
            await socket.SendAsync("{\"language\":\"python\",\"code\":\"1\",\"language\":\"bash\"}"u8.ToArray(), WebSocketMessageType.Text, true, ct);
            var stdin = Encoding.UTF8.GetBytes("{\"type\":\"stdin\",\"data\":\"x\"}");
            for (int i = 0; i < attempt % 4; i++) await socket.SendAsync(stdin, WebSocketMessageType.Text, true, ct);
            var message = await ReceiveAsync(socket, ct);
            Assert.Equal("error", message.GetProperty("type").GetString());
            Assert.Contains("language appears more than once", message.GetProperty("error").GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
    }

    private async Task<ClientWebSocket> ConnectAsync(CancellationToken ct)
    {
        var socket = new ClientWebSocket();
        var uri = new UriBuilder(shared.Server.Address) { Scheme = "ws", Path = "/api/v1/execute/ws" }.Uri;
        await socket.ConnectAsync(uri, ct).WaitAsync(TimeSpan.FromSeconds(30), ct);
        return socket;
    }

    private static Task SendAsync(WebSocket socket, object message, CancellationToken ct) =>
        socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(message), WebSocketMessageType.Text, true, ct);

    private static async Task<JsonElement> ReceiveAsync(WebSocket socket, CancellationToken ct)
    {
        var buffer = new byte[1 << 16];
        using var message = new MemoryStream();
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer, ct).WaitAsync(TimeSpan.FromSeconds(30), ct);
            Assert.NotEqual(WebSocketMessageType.Close, received.MessageType);
            message.Write(buffer, 0, received.Count);
            if (received.EndOfMessage) return JsonDocument.Parse(Encoding.UTF8.GetString(message.ToArray())).RootElement;
        }
    }
}
