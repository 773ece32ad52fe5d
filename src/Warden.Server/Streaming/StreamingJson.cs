using System.Text.Json.Serialization;

namespace Warden.Server.Streaming;

/// <summary>The server-sent events' and the execute WebSocket's messages.</summary>
[JsonSerializable(typeof(StreamChunk))]
[JsonSerializable(typeof(SocketMessage))]
internal sealed partial class StreamingJson : JsonSerializerContext;
