using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Warden.Server.TerminalPolicies;

// Wire shapes of Open WebUI's Terminals orchestrator policy routes (routers/policy.py; docs/open-terminal.md, "Orchestrator").

/// <summary>A stored policy as every route answers it; timestamps as Python's <c>str(datetime)</c> writes them.</summary>
public sealed record PolicyResponse(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("data")] JsonObject Data,
    [property: JsonPropertyName("created_at")] string CreatedAt,
    [property: JsonPropertyName("updated_at")] string UpdatedAt);

/// <summary>The body of <c>POST /api/v1/policies</c> (PUT takes the data object bare).</summary>
public sealed record PolicyCreateRequest(
    [property: JsonPropertyName("id")] string? Id,
    [property: JsonPropertyName("data")] JsonObject? Data);

public sealed record PolicyDeleted([property: JsonPropertyName("ok")] bool Ok);

/// <summary>The orchestrator's error shape (FastAPI's <c>HTTPException</c>), which Open WebUI shows from <c>.detail</c>.</summary>
public sealed record PolicyError([property: JsonPropertyName("detail")] string Detail);

[JsonSerializable(typeof(PolicyResponse))]
[JsonSerializable(typeof(List<PolicyResponse>))]
[JsonSerializable(typeof(PolicyCreateRequest))]
[JsonSerializable(typeof(PolicyDeleted))]
[JsonSerializable(typeof(PolicyError))]
[JsonSerializable(typeof(JsonObject))]
internal sealed partial class PolicyJson : JsonSerializerContext;
