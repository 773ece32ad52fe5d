using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Mvc;
using Warden.Server.NativeApi;

namespace Warden.Server.Streaming;

/// <summary>One server-sent event's data: a piece of output of one stage (<c>compile</c> or <c>run</c>).</summary>
public sealed record StreamChunk(string Stage, string Data);

/// <summary>
/// One message the execute WebSocket sends: output (<c>stdout</c>/<c>stderr</c> with stage and data), the
/// <c>result</c>, or an <c>error</c> problem. Fields a kind does not have are left out, not written as null.
/// </summary>
public sealed record SocketMessage(string Type)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Stage { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Data { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ExecuteResponse? Result { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ProblemDetails? Error { get; init; }

    public static SocketMessage Output(StreamEvent e) => new(e.Type) { Stage = e.Stage, Data = e.Data };
}
