using System.Text.Json.Serialization;
using Warden.Server.History;

namespace Warden.Server.NativeApi;

/// <summary>The native API's request and response shapes, generated at build time; names come from <see cref="NativeJson"/>.</summary>
[JsonSerializable(typeof(ExecuteRequest))]
[JsonSerializable(typeof(ExecuteResponse))]
[JsonSerializable(typeof(List<RuntimeDto>))]
[JsonSerializable(typeof(HealthDto))]
[JsonSerializable(typeof(ConfigDto))]
[JsonSerializable(typeof(StatsDto))]
[JsonSerializable(typeof(ExecutionPageDto))]
[JsonSerializable(typeof(ExecutionRecord))]
[JsonSerializable(typeof(CreateSessionRequest))]
[JsonSerializable(typeof(SessionExecuteRequest))]
[JsonSerializable(typeof(SessionDto))]
[JsonSerializable(typeof(List<SessionDto>))]
[JsonSerializable(typeof(SessionExecuteResponse))]
[JsonSerializable(typeof(CreateKeyRequest))]
[JsonSerializable(typeof(CreatedKeyDto))]
[JsonSerializable(typeof(List<ApiKeyDto>))]
internal sealed partial class NativeApiJson : JsonSerializerContext;
