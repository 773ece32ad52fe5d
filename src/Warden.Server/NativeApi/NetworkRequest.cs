using System.Text.Json;
using System.Text.Json.Serialization;
using Warden.Core.Execution;
using Warden.Core.Networking;

namespace Warden.Server.NativeApi;

/// <summary>
/// A request's <c>network</c> field: <c>true</c> (the server's whole egress ceiling), <c>false</c>/absent (none), or
/// <c>{"allow": ["pypi.org", "*.pythonhosted.org"]}</c> (those patterns, each within the ceiling; checked by the engine).
/// </summary>
[JsonConverter(typeof(NetworkRequestConverter))]
public sealed record NetworkRequest(bool Enabled, IReadOnlyList<string>? Allow)
{
    public static readonly NetworkRequest None = new(false, null);
}

/// <summary>
/// Reads <see cref="NetworkRequest"/> strictly: a boolean, null, or an object with only <c>allow</c> (an array of
/// strings, at most <see cref="EgressRequest.MaxPatterns"/>). Anything else is a 400 naming the place, never a .NET type.
/// </summary>
public sealed class NetworkRequestConverter : JsonConverter<NetworkRequest>
{
    public override bool HandleNull => true;

    public override NetworkRequest Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
            case JsonTokenType.False:
                return NetworkRequest.None;
            case JsonTokenType.True:
                return new NetworkRequest(true, null);
            case JsonTokenType.StartObject:
                break;
            default:
                throw new InvalidRequestException("network must be true or false, or {\"allow\": [patterns]}.", "network");
        }
        List<string>? allow = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            string name = reader.GetString() ?? "";
            reader.Read();
            if (!string.Equals(name, "allow", StringComparison.Ordinal))
                throw new InvalidRequestException($"network has no field '{name}' (only allow).", "network." + name);
            if (allow is not null) throw new InvalidRequestException("network.allow appears more than once.", "network.allow");
            if (reader.TokenType != JsonTokenType.StartArray)
                throw new InvalidRequestException("network.allow must be an array of host patterns.", "network.allow");
            allow = [];
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.String)
                    throw new InvalidRequestException($"network.allow[{allow.Count}] must be a string.", $"network.allow[{allow.Count}]");
                // Counted while reading: a huge list is refused before it is all held.
                if (allow.Count == EgressRequest.MaxPatterns)
                    throw new InvalidRequestException($"network.allow has more than {EgressRequest.MaxPatterns} patterns.", "network.allow");
                allow.Add(reader.GetString()!);
            }
        }
        if (allow is null) throw new InvalidRequestException("network needs allow: {\"allow\": [patterns]}, or true for the server's whole list.", "network");
        return new NetworkRequest(allow.Count > 0, allow);
    }

    public override void Write(Utf8JsonWriter writer, NetworkRequest value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        if (value.Allow is null)
        {
            writer.WriteBooleanValue(value.Enabled);
            return;
        }
        writer.WriteStartObject();
        writer.WriteStartArray("allow");
        foreach (var pattern in value.Allow) writer.WriteStringValue(pattern);
        writer.WriteEndArray();
        writer.WriteEndObject();
    }
}
