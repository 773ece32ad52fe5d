using System.Text.Json.Serialization;

namespace Warden.Server.OpenTerminalApi;

/// <summary>open-terminal's request bodies and the UI's small answers (the agent's own answers pass through as JSON).</summary>
[JsonSerializable(typeof(ExecRequest))]
[JsonSerializable(typeof(InputRequest))]
[JsonSerializable(typeof(WriteRequest))]
[JsonSerializable(typeof(ReplaceRequest))]
[JsonSerializable(typeof(PathRequest))]
[JsonSerializable(typeof(MoveRequest))]
[JsonSerializable(typeof(UiConfigDto))]
[JsonSerializable(typeof(SystemPromptDto))]
[JsonSerializable(typeof(WorkingDirectoryDto))]
[JsonSerializable(typeof(CwdDto))]
internal sealed partial class OpenTerminalJson : JsonSerializerContext;
