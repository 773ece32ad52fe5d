using System.Text.Json.Serialization;

namespace Warden.Server.Metrics;

[JsonSerializable(typeof(ReadinessDto))]
internal sealed partial class MetricsJson : JsonSerializerContext;
