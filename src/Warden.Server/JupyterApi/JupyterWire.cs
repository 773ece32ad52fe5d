using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Warden.Server.JupyterApi;

/// <summary>
/// The two WebSocket encodings of a message. Legacy JSON: one text frame holding the whole message with
/// <c>channel</c>, and <c>msg_id</c>/<c>msg_type</c> repeated at the top level (Open WebUI reads the top-level one).
/// <c>v1.kernel.websocket.jupyter.org</c>: one binary frame: u64 LE offset count, that many u64 LE offsets, then
/// channel, header, parent_header, metadata, content (and buffers), each offset the start of a part and the last the end.
/// </summary>
internal static class JupyterWire
{
    public const string V1Protocol = "v1.kernel.websocket.jupyter.org";

    public static byte[] ToJson(JupyterMessage message)
    {
        var node = new JsonObject
        {
            ["header"] = message.Header.DeepClone(),
            ["msg_id"] = message.MsgId,
            ["msg_type"] = message.MsgType,
            ["parent_header"] = message.ParentHeader.DeepClone(),
            ["metadata"] = message.Metadata.DeepClone(),
            ["content"] = message.Content.DeepClone(),
            ["buffers"] = new JsonArray(),
            ["channel"] = message.Channel,
        };
        return JsonSerializer.SerializeToUtf8Bytes(node, JupyterHttpJson.Default.JsonObject);
    }

    public static byte[] ToV1(JupyterMessage message)
    {
        byte[][] parts =
        [
            Encoding.UTF8.GetBytes(message.Channel),
            JsonSerializer.SerializeToUtf8Bytes(message.Header, JupyterHttpJson.Default.JsonObject),
            JsonSerializer.SerializeToUtf8Bytes(message.ParentHeader, JupyterHttpJson.Default.JsonObject),
            JsonSerializer.SerializeToUtf8Bytes(message.Metadata, JupyterHttpJson.Default.JsonObject),
            JsonSerializer.SerializeToUtf8Bytes(message.Content, JupyterHttpJson.Default.JsonObject),
        ];
        int offsetCount = parts.Length + 1;
        int start = 8 * (1 + offsetCount);
        var frame = new byte[start + parts.Sum(p => p.Length)];
        BinaryPrimitives.WriteUInt64LittleEndian(frame, (ulong)offsetCount);
        int position = start;
        for (int i = 0; i < parts.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(8 * (i + 1)), (ulong)position);
            parts[i].CopyTo(frame, position);
            position += parts[i].Length;
        }
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(8 * offsetCount), (ulong)position);
        return frame;
    }

    /// <summary>Parses a legacy JSON text frame; null when it is not a message.</summary>
    public static JupyterMessage? FromJson(ReadOnlySpan<byte> frame)
    {
        JsonObject? root;
        try { root = JsonNode.Parse(frame) as JsonObject; }
        catch (JsonException) { return null; }
        if (root?["header"] is not JsonObject header) return null;
        return new JupyterMessage
        {
            // jupyter_server assumes shell when a client leaves the channel out.
            Channel = root["channel"] is JsonValue c && c.TryGetValue<string>(out var channel) ? channel : "shell",
            Header = Detach(header),
            ParentHeader = root["parent_header"] is JsonObject p ? Detach(p) : [],
            Metadata = root["metadata"] is JsonObject m ? Detach(m) : [],
            Content = root["content"] is JsonObject content ? Detach(content) : [],
        };
    }

    /// <summary>Parses a v1 binary frame; null when its framing or JSON is invalid.</summary>
    public static JupyterMessage? FromV1(ReadOnlySpan<byte> frame)
    {
        try
        {
            if (frame.Length < 8) return null;
            ulong count = BinaryPrimitives.ReadUInt64LittleEndian(frame);
            if (count < 6 || count > 1024 || (ulong)frame.Length < 8 * (count + 1)) return null;
            var offsets = new int[count];
            for (int i = 0; i < (int)count; i++)
            {
                ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(frame[(8 * (i + 1))..]);
                if (offset > (ulong)frame.Length || (i > 0 && (int)offset < offsets[i - 1])) return null;
                offsets[i] = (int)offset;
            }
            return new JupyterMessage
            {
                Channel = Encoding.UTF8.GetString(frame[offsets[0]..offsets[1]]),
                Header = JsonNode.Parse(frame[offsets[1]..offsets[2]]) as JsonObject ?? throw new JsonException("header"),
                ParentHeader = JsonNode.Parse(frame[offsets[2]..offsets[3]]) as JsonObject ?? [],
                Metadata = JsonNode.Parse(frame[offsets[3]..offsets[4]]) as JsonObject ?? [],
                Content = JsonNode.Parse(frame[offsets[4]..offsets[5]]) as JsonObject ?? [],
            };
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static JsonObject Detach(JsonObject node) => node.DeepClone().AsObject();
}
