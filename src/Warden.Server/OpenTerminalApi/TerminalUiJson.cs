using System.ComponentModel;
using System.Text.Json.Serialization;

namespace Warden.Server.OpenTerminalApi;

/// <summary>open-terminal's <c>/info</c> answer.</summary>
public sealed record InfoResponse(string Info);

/// <summary>open-terminal's <c>ArchiveRequest</c>.</summary>
public sealed record ArchiveRequest(
    [property: Description("Paths of the files and directories to put in the ZIP.")] List<string> Paths);

/// <summary>Source-generated JSON for the file-browser and preview routes (no reflection: Native AOT).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(InfoResponse))]
[JsonSerializable(typeof(ArchiveRequest))]
internal sealed partial class TerminalUiJson : JsonSerializerContext;
