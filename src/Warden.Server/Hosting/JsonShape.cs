using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Warden.Core.Execution;

namespace Warden.Server.Hosting;

/// <summary>Whether fields a request type does not declare are refused (native API) or ignored (compatibility surfaces).</summary>
public enum UnknownFields
{
    Reject,
    Ignore,
}

/// <summary>
/// Checks a parsed JSON body against the shape the serializer binds it to, before binding, so that each mistake gets a
/// sentence naming the field ("timeout must be a number", "unknown field 'bogus'") rather than the serializer's own
/// message, which names .NET types. Duplicate keys and nulls where a value is required are refused everywhere: a body
/// that two readers could understand differently is never guessed at.
/// </summary>
internal static class JsonShape
{
    private const int MaxNameInMessage = 100;

    public static void Check(JsonElement body, JsonTypeInfo type, UnknownFields unknown, IReadOnlyDictionary<string, Type>? extraFields = null)
    {
        if (body.ValueKind == JsonValueKind.Null) throw new InvalidRequestException("The request body is empty (JSON null).");
        if (type.Kind == JsonTypeInfoKind.Object && body.ValueKind != JsonValueKind.Object)
            throw new InvalidRequestException($"The request body must be a JSON object (got {KindName(body)}).");
        CheckValue(body, type.Type, nullable: false, "", type.Options, unknown, extraFields);
    }

    private static void CheckValue(JsonElement value, Type type, bool nullable, string path, JsonSerializerOptions options, UnknownFields unknown,
        IReadOnlyDictionary<string, Type>? extraFields = null)
    {
        if (value.ValueKind == JsonValueKind.Null)
        {
            if (nullable || Nullable.GetUnderlyingType(type) is not null) return;
            throw Invalid(path, $"{Show(path)} must not be null.");
        }
        var t = Nullable.GetUnderlyingType(type) ?? type;
        if (t == typeof(JsonElement) || t == typeof(object) || typeof(JsonNode).IsAssignableFrom(t)) return;
        if (t == typeof(string))
        {
            if (value.ValueKind != JsonValueKind.String) throw Invalid(path, $"{Show(path)} must be a string (got {KindName(value)}).");
            CheckText(value, path);
            return;
        }
        if (t == typeof(bool))
        {
            if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw Invalid(path, $"{Show(path)} must be true or false (got {KindName(value)}).");
            return;
        }
        if (IntegerRange(t) is { } range)
        {
            if (value.ValueKind != JsonValueKind.Number) throw Invalid(path, $"{Show(path)} must be an integer (got {KindName(value)}).");
            if (!value.TryGetInt64(out var n) || n < range.Min || n > range.Max)
                throw Invalid(path, $"{Show(path)} must be an integer from {range.Min} to {range.Max}.");
            return;
        }
        if (t == typeof(double) || t == typeof(float))
        {
            if (value.ValueKind != JsonValueKind.Number) throw Invalid(path, $"{Show(path)} must be a number (got {KindName(value)}).");
            if (!value.TryGetDouble(out var d) || !double.IsFinite(d) || (t == typeof(float) && !float.IsFinite((float)d)))
                throw Invalid(path, $"{Show(path)} is not a number this server can represent.");
            return;
        }
        var info = options.GetTypeInfo(t);
        switch (info.Kind)
        {
            case JsonTypeInfoKind.Enumerable:
                if (value.ValueKind != JsonValueKind.Array) throw Invalid(path, $"{Show(path)} must be an array (got {KindName(value)}).");
                int i = 0;
                foreach (var item in value.EnumerateArray()) CheckValue(item, info.ElementType!, nullable: false, $"{path}[{i++}]", options, unknown);
                return;
            case JsonTypeInfoKind.Dictionary:
                if (value.ValueKind != JsonValueKind.Object) throw Invalid(path, $"{Show(path)} must be an object (got {KindName(value)}).");
                var keys = new HashSet<string>(StringComparer.Ordinal);
                foreach (var entry in value.EnumerateObject())
                {
                    var key = NameOf(entry, path);
                    var entryPath = Join(path, key);
                    if (!keys.Add(key)) throw Invalid(entryPath, $"{Show(entryPath)} appears more than once.");
                    CheckValue(entry.Value, info.ElementType!, nullable: false, entryPath, options, unknown);
                }
                return;
            case JsonTypeInfoKind.Object:
                CheckObject(value, info, path, options, unknown, extraFields);
                return;
            default:
                // Other scalars (none in today's request types) are left to the serializer; its failure is reported by path.
                return;
        }
    }

    private static void CheckObject(JsonElement value, JsonTypeInfo info, string path, JsonSerializerOptions options, UnknownFields unknown,
        IReadOnlyDictionary<string, Type>? extraFields)
    {
        if (value.ValueKind != JsonValueKind.Object) throw Invalid(path, $"{Show(path)} must be an object (got {KindName(value)}).");
        var properties = info.Properties.ToDictionary(p => p.Name, StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var field in value.EnumerateObject())
        {
            var name = NameOf(field, path);
            var fieldPath = Join(path, name);
            if (!seen.Add(name)) throw Invalid(fieldPath, $"{Show(fieldPath)} appears more than once.");
            if (properties.TryGetValue(name, out var property))
                CheckValue(field.Value, property.PropertyType, AcceptsNull(property), fieldPath, options, unknown);
            else if (extraFields is not null && extraFields.TryGetValue(name, out var extraType))
                CheckValue(field.Value, extraType, nullable: true, fieldPath, options, unknown);
            else if (unknown == UnknownFields.Reject)
                throw Invalid(fieldPath, $"Unknown field '{Show(fieldPath)}'." + Expected(properties.Keys, extraFields));
        }
        foreach (var (name, property) in properties)
        {
            if (!seen.Contains(name) && IsRequired(property)) throw Invalid(Join(path, name), $"{Show(Join(path, name))} is required.");
        }
    }

    private static string Expected(IEnumerable<string> names, IReadOnlyDictionary<string, Type>? extraFields) =>
        " Known fields: " + string.Join(", ", names.Concat(extraFields?.Keys ?? [])) + ".";

    /// <summary>A constructor parameter without a default that does not accept null must be given (open-terminal's required fields).</summary>
    private static bool IsRequired(JsonPropertyInfo property) =>
        property.IsRequired || (property.AssociatedParameter is { HasDefaultValue: false } && !AcceptsNull(property));

    /// <summary>
    /// From the contract's own metadata, which the source generator (or the reflection resolver) derives from the nullable
    /// annotations, of the constructor parameter when the property is bound through one: no reflection at request time.
    /// </summary>
    private static bool AcceptsNull(JsonPropertyInfo property) =>
        property.PropertyType.IsValueType ? Nullable.GetUnderlyingType(property.PropertyType) is not null : property.IsSetNullable;

    private static string NameOf(JsonProperty field, string path)
    {
        try
        {
            return field.Name;
        }
        catch (InvalidOperationException)
        {
            throw Invalid(path, $"A field name{(path.Length == 0 ? "" : " in " + Show(path))} is not valid text (it contains a lone surrogate escape).");
        }
    }

    private static void CheckText(JsonElement value, string path)
    {
        try
        {
            _ = value.GetString();
        }
        catch (InvalidOperationException)
        {
            throw Invalid(path, $"{Show(path)} is not valid text (it contains a lone surrogate escape).");
        }
    }

    private static (long Min, long Max)? IntegerRange(Type t) =>
        t == typeof(int) ? (int.MinValue, int.MaxValue)
        : t == typeof(long) ? (long.MinValue, long.MaxValue)
        : t == typeof(short) ? (short.MinValue, short.MaxValue)
        : t == typeof(byte) ? (byte.MinValue, byte.MaxValue)
        : t == typeof(uint) ? (uint.MinValue, uint.MaxValue)
        : null;

    private static string KindName(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    private static string Join(string path, string name) => path.Length == 0 ? name : path + "." + name;

    /// <summary>A field path fit for a sentence: bounded, so a megabyte-long key does not come back in the answer.</summary>
    private static string Show(string path) => path.Length <= MaxNameInMessage ? path : path[..MaxNameInMessage] + "…";

    private static InvalidRequestException Invalid(string path, string message) => new(message, Show(path));
}
