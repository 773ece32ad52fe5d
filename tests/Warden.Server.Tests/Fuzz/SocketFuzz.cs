using System.Buffers.Binary;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Warden.Server.Tests.Fuzz;

/// <summary>
/// The WebSocket half of the fuzz: <c>/api/v1/execute/ws</c> with mutated execute requests (the HTTP mutator's bodies)
/// and stdin messages, and Jupyter's <c>/api/kernels/{id}/channels</c> with mutated protocol messages in both encodings
/// (legacy JSON text frames and v1 binary frames). An execution socket must end with a result or a 4xx error problem; a
/// kernel socket must keep answering (a valid kernel_info_request afterwards gets its reply) whatever it was sent.
/// </summary>
internal sealed class SocketFuzz(Random random, FuzzState state, RequestMutator mutator, FuzzOperation execute, Uri server)
{
    /// <summary>How the conversations ended, for the test's output (a run where every handshake fails tests nothing).</summary>
    public SortedDictionary<string, int> Outcomes { get; } = new(StringComparer.Ordinal);

    private void Count(string outcome) => Outcomes[outcome] = Outcomes.GetValueOrDefault(outcome) + 1;

    private const string V1 = "v1.kernel.websocket.jupyter.org";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>One conversation; returns what was wrong with it, or null.</summary>
    public async Task<string?> NextAsync(string kernelId, CancellationToken ct) =>
        random.Next(10) < 6 ? await ExecuteSocketAsync(ct) : await KernelSocketAsync(kernelId, ct);

    private async Task<string?> ExecuteSocketAsync(CancellationToken ct)
    {
        var request = mutator.Next(execute);
        var first = request.Body ?? "{}"u8.ToArray();
        var followUps = Enumerable.Range(0, random.Next(3)).Select(_ => Pick(
            "{\"type\":\"stdin\",\"data\":\"x\\n\"}", "{\"type\":\"stdin\",\"data\":5}", "{\"type\":\"eof\"}", "{\"type\":\"stdin\"}", "garbage", "null", "[]",
            "{\"type\":\"stdin\",\"data\":\"" + new string('s', 70_000) + "\"}")).ToList();
        var firstType = random.Next(8) == 0 ? WebSocketMessageType.Binary : WebSocketMessageType.Text;
        // RFC 6455: a text frame that is not UTF-8 fails the connection; the server's WebSocket closes it (1007) itself.
        bool invalidFrame = firstType == WebSocketMessageType.Text && !System.Text.Unicode.Utf8.IsValid(first);
        var what = $"execute/ws first message {Describe(first)} [{string.Join(", ", request.Mutations)}] then {followUps.Count} more";
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        var credentials = random.Next(10) switch { 0 => null, 1 => "wrong-key", _ => state.BootstrapKey };
        if (credentials is not null) socket.Options.SetRequestHeader("Authorization", "Bearer " + credentials);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(Timeout);
        try
        {
            await socket.ConnectAsync(new UriBuilder(server) { Scheme = "ws", Path = "/api/v1/execute/ws" }.Uri, deadline.Token);
        }
        catch (WebSocketException)
        {
            Count($"execute/ws handshake {(int)socket.HttpStatusCode}");
            return (int)socket.HttpStatusCode >= 500 ? $"{what}: handshake answered {(int)socket.HttpStatusCode}" : null;
        }
        try
        {
            await socket.SendAsync(first, firstType, true, deadline.Token);
            foreach (var message in followUps) await socket.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, true, deadline.Token);
            while (await ReceiveAsync(socket, deadline.Token) is { } text)
            {
                JsonElement message;
                try
                {
                    message = JsonDocument.Parse(text).RootElement.Clone();
                }
                catch (JsonException)
                {
                    return $"{what}: the server sent a frame that is not JSON: {Describe(text)}";
                }
                var type = message.TryGetProperty("type", out var t) ? t.GetString() : null;
                if (type == "error")
                {
                    Count("execute/ws error");
                    return JudgeError(message, what);
                }
                if (type == "result")
                {
                    Count("execute/ws result");
                    return null;
                }
            }
            Count("execute/ws closed");
            return invalidFrame ? null : $"{what}: the socket closed without a result or an error";
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return $"{what}: no result or error within {Timeout.TotalSeconds} s";
        }
        catch (WebSocketException e)
        {
            return invalidFrame ? null : $"{what}: the connection broke ({e.Message})";
        }
    }

    private static string? JudgeError(JsonElement message, string what)
    {
        var error = message.GetProperty("error");
        var status = error.TryGetProperty("status", out var s) && s.TryGetInt32(out var n) ? n : 0;
        if (status is < 400 or >= 500) return $"{what}: error message with status {status}: {message}";
        if (!error.TryGetProperty("type", out _) || !error.TryGetProperty("title", out _)) return $"{what}: error without type or title: {message}";
        var problem = ApiFuzzTests.Judge(new FuzzRequest("ws", "GET", [], [], null, BodyDelivery.Whole, []),
            new FuzzResponse(status, new Dictionary<string, string> { ["content-type"] = "application/problem+json" }, Encoding.UTF8.GetBytes(error.GetRawText())));
        return problem is null ? null : $"{what}: {problem}";
    }

    private async Task<string?> KernelSocketAsync(string kernelId, CancellationToken ct)
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        bool v1 = random.Next(2) == 0;
        if (v1) socket.Options.AddSubProtocol(V1);
        var sessionId = Guid.NewGuid().ToString("N");
        var uri = new UriBuilder(server) { Scheme = "ws", Path = $"/api/kernels/{kernelId}/channels", Query = $"token={state.BootstrapKey}&session_id={sessionId}" }.Uri;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(Timeout);
        try
        {
            await socket.ConnectAsync(uri, deadline.Token);
        }
        catch (WebSocketException)
        {
            Count($"kernel handshake {(int)socket.HttpStatusCode}");
            return (int)socket.HttpStatusCode >= 500 ? $"kernel channels: handshake answered {(int)socket.HttpStatusCode}" : null;
        }
        v1 = socket.SubProtocol == V1;
        var sent = new List<string>();
        bool shutdown = false, invalidFrame = false;
        try
        {
            for (int i = 1 + random.Next(3); i > 0; i--)
            {
                var (frame, type, description) = KernelFrame(v1, sessionId);
                shutdown |= description.Contains("shutdown_request", StringComparison.Ordinal);
                invalidFrame |= type == WebSocketMessageType.Text && !System.Text.Unicode.Utf8.IsValid(frame);
                sent.Add(description);
                await socket.SendAsync(frame, type, true, deadline.Token);
            }
            // A shutdown_request (without restart) ends the kernel and closes its sockets; a text frame that is not UTF-8 ends
            // the connection (RFC 6455, the server's WebSocket does it): nothing more to ask either way.
            if (shutdown || invalidFrame)
            {
                Count(shutdown ? "kernel shut down" : "kernel invalid frame");
                return null;
            }
            var probe = Message("kernel_info_request", sessionId, new JsonObject(), "shell");
            var probeId = (string)probe["header"]!["msg_id"]!;
            await socket.SendAsync(v1 ? ToV1(probe) : JsonSerializer.SerializeToUtf8Bytes(probe), v1 ? WebSocketMessageType.Binary : WebSocketMessageType.Text, true, deadline.Token);
            while (await ReceiveBytesAsync(socket, deadline.Token) is { } reply)
            {
                var parent = v1 ? ParentMsgIdV1(reply) : ParentMsgIdJson(reply);
                if (parent == probeId)
                {
                    Count("kernel answered");
                    return null;
                }
            }
            return $"kernel channels ({(v1 ? "v1" : "json")}) closed after [{string.Join("; ", sent)}] without answering a kernel_info_request";
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return $"kernel channels ({(v1 ? "v1" : "json")}) stopped answering after [{string.Join("; ", sent)}]";
        }
        catch (WebSocketException e)
        {
            return invalidFrame ? null : $"kernel channels ({(v1 ? "v1" : "json")}) broke after [{string.Join("; ", sent)}]: {e.Message}";
        }
    }

    /// <summary>A Jupyter message, valid or mutated, or a frame that is not one at all.</summary>
    private (byte[] Frame, WebSocketMessageType Type, string Description) KernelFrame(bool v1, string sessionId)
    {
        if (random.Next(8) == 0)
        {
            var garbage = Pick<byte[]>("not json"u8.ToArray(), [], "{}"u8.ToArray(), "{\"header\":5}"u8.ToArray(), [0xff, 0xfe, 0x00],
                new byte[20], Encoding.ASCII.GetBytes(new string('[', 5000) + new string(']', 5000)), BadV1());
            return (garbage, random.Next(2) == 0 ? WebSocketMessageType.Binary : WebSocketMessageType.Text, $"garbage frame {Describe(garbage)}");
        }
        var type = Pick("execute_request", "execute_request", "kernel_info_request", "complete_request", "inspect_request", "history_request",
            "is_complete_request", "comm_info_request", "interrupt_request", "shutdown_request", "comm_open", "input_reply", "", "ünknown");
        var content = type switch
        {
            "execute_request" => new JsonObject
            {
                ["code"] = Pick("1 + 1", "print('fuzz')", "x = 1", "1/0"), ["silent"] = false, ["store_history"] = true,
                ["user_expressions"] = new JsonObject(), ["allow_stdin"] = false, ["stop_on_error"] = true,
            },
            "complete_request" or "inspect_request" => new JsonObject { ["code"] = "pri", ["cursor_pos"] = 3 },
            // Only restarts: a shutdown that deletes the kernel is tested as such (and ends the conversation).
            "shutdown_request" => new JsonObject { ["restart"] = true },
            _ => new JsonObject(),
        };
        var channel = type is "interrupt_request" or "shutdown_request" ? "control" : "shell";
        var message = Message(type, sessionId, content, channel);
        var mutations = new List<string>();
        for (int i = random.Next(3); i > 0; i--) mutations.Add(Mutate(message));
        var description = $"{type} on {channel} [{string.Join(", ", mutations)}]";
        if (v1 && random.Next(4) > 0) return (ToV1(message), WebSocketMessageType.Binary, description + " (v1)");
        return (Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, description);
    }

    private string Mutate(JsonObject message)
    {
        var slots = new List<(JsonObject Parent, string Key)>();
        void Collect(JsonObject o)
        {
            foreach (var (k, v) in o.ToList())
            {
                slots.Add((o, k));
                if (v is JsonObject child) Collect(child);
            }
        }
        Collect(message);
        // Half the mutations hit the header: the fields every message is dispatched by.
        var header = slots.Where(s => s.Parent == message["header"]).ToList();
        var (parent, key) = random.Next(2) == 0 && header.Count > 0 ? header[random.Next(header.Count)] : slots[random.Next(slots.Count)];
        switch (random.Next(5))
        {
            case 0:
                parent.Remove(key);
                return $"{key} removed";
            case 1:
                parent[key] = null;
                return $"{key} null";
            case 2:
                var s = Pick(HostileValues.Strings);
                parent[key] = s;
                return $"{key} '{RequestMutator.Show(s)}'";
            case 3:
                parent["bogus_" + random.Next(100)] = "x";
                return "extra field";
            default:
                JsonNode wrong = Pick<JsonNode>(1, -1, 1e300, true, new JsonArray(1), new JsonObject { ["a"] = 1 }, 2147483648L);
                parent[key] = wrong;
                return $"{key} {wrong.ToJsonString()}";
        }
    }

    private static JsonObject Message(string type, string session, JsonObject content, string channel) => new()
    {
        ["header"] = new JsonObject
        {
            ["msg_id"] = Guid.NewGuid().ToString("N"), ["msg_type"] = type, ["username"] = "fuzz", ["session"] = session, ["date"] = "", ["version"] = "5.3",
        },
        ["parent_header"] = new JsonObject(), ["metadata"] = new JsonObject(), ["content"] = content, ["channel"] = channel,
    };

    private static byte[] ToV1(JsonObject message)
    {
        byte[][] parts =
        [
            Encoding.UTF8.GetBytes(message["channel"] is JsonValue c && c.TryGetValue<string>(out var ch) ? ch : "shell"),
            Part(message["header"]), Part(message["parent_header"]), Part(message["metadata"]), Part(message["content"]),
        ];
        int count = parts.Length + 1, position = 8 * (1 + count);
        var frame = new byte[position + parts.Sum(p => p.Length)];
        BinaryPrimitives.WriteUInt64LittleEndian(frame, (ulong)count);
        for (int i = 0; i < parts.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(8 * (i + 1)), (ulong)position);
            parts[i].CopyTo(frame, position);
            position += parts[i].Length;
        }
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(8 * count), (ulong)position);
        return frame;
    }

    private static byte[] Part(JsonNode? node) => Encoding.UTF8.GetBytes(node?.ToJsonString() ?? "null");

    /// <summary>A v1 frame whose offsets point backwards and past its end.</summary>
    private static byte[] BadV1()
    {
        var frame = new byte[64];
        BinaryPrimitives.WriteUInt64LittleEndian(frame, 6);
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(8), 60);
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(16), 10);
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(24), ulong.MaxValue);
        return frame;
    }

    private static string? ParentMsgIdJson(byte[] frame)
    {
        try
        {
            return JsonNode.Parse(frame)?["parent_header"]?["msg_id"]?.GetValue<string>();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    private static string? ParentMsgIdV1(byte[] frame)
    {
        if (frame.Length < 8) return ParentMsgIdJson(frame);
        var count = BinaryPrimitives.ReadUInt64LittleEndian(frame);
        if (count < 4 || (ulong)frame.Length < 8 * (count + 1)) return ParentMsgIdJson(frame);
        var start = (int)BinaryPrimitives.ReadUInt64LittleEndian(frame.AsSpan(8 * 3));
        var end = (int)BinaryPrimitives.ReadUInt64LittleEndian(frame.AsSpan(8 * 4));
        try
        {
            return JsonNode.Parse(frame.AsSpan(start, end - start))?["msg_id"]?.GetValue<string>();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
        {
            return null;
        }
    }

    private static async Task<string?> ReceiveAsync(ClientWebSocket socket, CancellationToken ct) =>
        await ReceiveBytesAsync(socket, ct) is { } bytes ? Encoding.UTF8.GetString(bytes) : null;

    private static async Task<byte[]?> ReceiveBytesAsync(ClientWebSocket socket, CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer, ct);
            if (received.MessageType == WebSocketMessageType.Close) return null;
            message.Write(buffer, 0, received.Count);
            if (received.EndOfMessage) return message.ToArray();
        }
    }

    private static string Describe(byte[] bytes) => Describe(Encoding.UTF8.GetString(bytes));

    private static string Describe(string text) => RequestMutator.Show(text);

    private T Pick<T>(params T[] values) => values[random.Next(values.Length)];
}
