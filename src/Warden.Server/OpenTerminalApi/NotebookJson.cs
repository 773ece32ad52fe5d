using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Warden.Server.OpenTerminalApi;

// open-terminal 0.11.34's /notebooks bodies and answers (utils/notebooks.py), field for field.

public sealed record CreateNotebookRequest(
    [property: Description("Absolute path to the .ipynb file (relative paths are against the home).")] string Path);

public sealed record ExecuteCellRequest(
    [property: Description("Zero-based cell index to execute.")] int CellIndex,
    [property: Description("Override cell source. If omitted, uses the source already in the notebook.")] string? Source = null);

public sealed record CreateNotebookResponse(string Id, string Kernel, string Status);

/// <summary>A cell's outputs are nbformat 4 output objects, passed on as the kernel made them.</summary>
public sealed record ExecuteCellResponse(string Status, int? ExecutionCount, IReadOnlyList<JsonElement> Outputs);

public sealed record NotebookSessionResponse(string Id, string Path, string Kernel, string Status);

public sealed record NotebookStoppedResponse(string Status);

/// <summary>Source-generated JSON of the notebook routes: snake_case, nulls written (open-terminal's "execution_count": null).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    NumberHandling = JsonNumberHandling.Strict, UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip)]
[JsonSerializable(typeof(CreateNotebookRequest))]
[JsonSerializable(typeof(ExecuteCellRequest))]
[JsonSerializable(typeof(CreateNotebookResponse))]
[JsonSerializable(typeof(ExecuteCellResponse))]
[JsonSerializable(typeof(NotebookSessionResponse))]
[JsonSerializable(typeof(NotebookStoppedResponse))]
internal sealed partial class NotebookJson : JsonSerializerContext;
