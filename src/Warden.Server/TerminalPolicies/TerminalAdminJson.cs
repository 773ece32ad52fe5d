using System.Text.Json.Serialization;

namespace Warden.Server.TerminalPolicies;

// Wire shapes of the Terminals orchestrator's admin routes (routers/lifecycle.py: /api/v1/status, /api/v1/terminals,
// /api/v1/terminals/stop), which its admin page reads; docs/open-terminal.md, "Orchestrator".

/// <summary><c>GET /api/v1/status</c>. <c>image</c> is null: sandboxes run this server's tools, there is no image;
/// <c>allowed_images</c> are the profile names a policy's <c>image</c> may take.</summary>
public sealed record TerminalStatusResponse(
    [property: JsonPropertyName("status")] bool Status,
    [property: JsonPropertyName("backend")] string Backend,
    [property: JsonPropertyName("image")] string? Image,
    [property: JsonPropertyName("idle_timeout_minutes")] double IdleTimeoutMinutes,
    [property: JsonPropertyName("max_cpu")] string MaxCpu,
    [property: JsonPropertyName("max_memory")] string MaxMemory,
    [property: JsonPropertyName("max_storage")] string MaxStorage,
    [property: JsonPropertyName("allowed_images")] IReadOnlyList<string> AllowedImages,
    [property: JsonPropertyName("active_terminals")] int ActiveTerminals,
    [property: JsonPropertyName("policy_count")] int PolicyCount,
    [property: JsonPropertyName("active_websocket_connections")] int ActiveWebsocketConnections);

/// <summary>One row of <c>GET /api/v1/terminals</c>. <c>policy_id</c> is <c>default</c> for the plain surface, as the
/// orchestrator names its policy-less terminals; <c>instance_id</c> is the terminal's home key (a hash, never the user id).</summary>
public sealed record TerminalRow(
    [property: JsonPropertyName("user_id")] string UserId,
    [property: JsonPropertyName("policy_id")] string PolicyId,
    [property: JsonPropertyName("context_id")] string ContextId,
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("instance_id")] string InstanceId,
    [property: JsonPropertyName("instance_name")] string InstanceName,
    [property: JsonPropertyName("last_active_at")] string? LastActiveAt,
    [property: JsonPropertyName("idle_timeout_minutes")] double IdleTimeoutMinutes);

/// <summary>The body of <c>POST /api/v1/terminals/stop</c>.</summary>
public sealed record TerminalStopRequest(
    [property: JsonPropertyName("user_id")] string? UserId,
    [property: JsonPropertyName("policy_id")] string? PolicyId,
    [property: JsonPropertyName("context_id")] string? ContextId);

public sealed record TerminalStopResponse(
    [property: JsonPropertyName("matched")] int Matched,
    [property: JsonPropertyName("stopped")] int Stopped,
    [property: JsonPropertyName("skipped_active")] int SkippedActive);

[JsonSerializable(typeof(TerminalStatusResponse))]
[JsonSerializable(typeof(List<TerminalRow>))]
[JsonSerializable(typeof(TerminalStopRequest))]
[JsonSerializable(typeof(TerminalStopResponse))]
internal sealed partial class TerminalAdminJson : JsonSerializerContext;
