using System.Text.Json;
using System.Text.Json.Serialization;

namespace Warden.Server.NativeApi;

/// <summary>The native API's JSON conventions: snake_case names, nulls written (Sandbox Executor's result shape has "error": null).</summary>
public static class NativeJson
{
    public static readonly JsonSerializerOptions Options = Locked(Configure(new JsonSerializerOptions()));

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DictionaryKeyPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
        options.NumberHandling = JsonNumberHandling.Strict;
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip;
        options.Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
        return Hosting.WardenJsonContexts.Chain(options);
    }

    /// <summary>Request bodies are checked against the options' type metadata: the generated contexts' (see WardenJsonContexts).</summary>
    private static JsonSerializerOptions Locked(JsonSerializerOptions options)
    {
        options.MakeReadOnly();
        return options;
    }
}
