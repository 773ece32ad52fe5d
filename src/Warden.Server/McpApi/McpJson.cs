using System.Text.Json.Serialization;
using ModelContextProtocol.Protocol;

namespace Warden.Server.McpApi;

/// <summary>
/// The error body the MCP endpoints declare to ASP.NET Core (the SDK writes its messages with its own options; this is
/// the HTTP options' view of them, for the endpoint metadata and the OpenAPI document).
/// </summary>
[JsonSerializable(typeof(JsonRpcError))]
internal sealed partial class McpJson : JsonSerializerContext;
