using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Warden.Server.Cluster;

/// <summary><c>GET /api/v1/cluster</c>, and the merged lists (written with the endpoints' relaxed escaping).</summary>
[JsonSerializable(typeof(ClusterDto))]
internal sealed partial class ClusterJson : JsonSerializerContext;

[JsonSourceGenerationOptions(GenerationMode = JsonSourceGenerationMode.Metadata)]
[JsonSerializable(typeof(JsonArray))]
internal sealed partial class ClusterListJson : JsonSerializerContext;
