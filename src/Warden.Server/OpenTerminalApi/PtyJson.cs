using System.Text.Json.Serialization;

namespace Warden.Server.OpenTerminalApi;

// Wire shapes of open-terminal 0.11.34's /api/terminals routes (see docs/open-terminal.md, "Interactive terminals").

/// <summary>A terminal as POST, GET and the list show it.</summary>
public sealed record TerminalInfo(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("created_at")] string CreatedAt,
    [property: JsonPropertyName("pid")] int Pid);

/// <summary>The optional POST body (open-terminal 0.11.34 takes none; later versions and Warden accept these).</summary>
public sealed record CreateTerminalRequest(
    [property: JsonPropertyName("cwd")] string? Cwd,
    [property: JsonPropertyName("cols")] int? Cols,
    [property: JsonPropertyName("rows")] int? Rows);

/// <summary>These routes answer errors as <c>{"error": …}</c>, as open-terminal's do (not problem+json).</summary>
public sealed record TerminalError([property: JsonPropertyName("error")] string Error);

public sealed record TerminalDeleted([property: JsonPropertyName("status")] string Status);

[JsonSerializable(typeof(TerminalInfo))]
[JsonSerializable(typeof(List<TerminalInfo>))]
[JsonSerializable(typeof(CreateTerminalRequest))]
[JsonSerializable(typeof(TerminalError))]
[JsonSerializable(typeof(TerminalDeleted))]
internal sealed partial class PtyJson : JsonSerializerContext;
