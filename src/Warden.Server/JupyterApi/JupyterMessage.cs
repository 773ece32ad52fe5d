using System.Globalization;
using System.Text.Json.Nodes;

namespace Warden.Server.JupyterApi;

/// <summary>
/// One Jupyter message (messaging protocol 5.3): header, parent_header, metadata, content, on a channel
/// (shell, control, iopub, stdin). Buffers are not used by any message Warden sends or reads.
/// </summary>
internal sealed class JupyterMessage
{
    public const string ProtocolVersion = "5.3";

    public required string Channel { get; init; }
    public required JsonObject Header { get; init; }
    public JsonObject ParentHeader { get; init; } = [];
    public JsonObject Metadata { get; init; } = [];
    public JsonObject Content { get; init; } = [];

    public string MsgType => Text(Header["msg_type"]);

    public string MsgId => Text(Header["msg_id"]);

    /// <summary>A client's header field as text; anything else (a number, an object) reads as absent, never throws.</summary>
    private static string Text(JsonNode? node) => node is JsonValue value && value.TryGetValue<string>(out var text) ? text : "";

    /// <summary>A message from the kernel answering or caused by <paramref name="parent"/> (null: unsolicited).</summary>
    public static JupyterMessage Reply(JupyterMessage? parent, string channel, string msgType, string kernelSession, JsonObject content) => new()
    {
        Channel = channel,
        Header = NewHeader(msgType, kernelSession),
        ParentHeader = parent?.Header.DeepClone().AsObject() ?? [],
        Content = content,
    };

    public static JsonObject NewHeader(string msgType, string session) => new()
    {
        ["msg_id"] = Guid.NewGuid().ToString("N"),
        ["msg_type"] = msgType,
        ["username"] = "warden",
        ["session"] = session,
        ["date"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture),
        ["version"] = ProtocolVersion,
    };
}
