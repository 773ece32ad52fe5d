using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Warden.Server.Hosting;

/// <summary>
/// Every source-generated JSON context the HTTP surfaces serialize through, in one list. Native AOT has no reflection-based
/// serializer: a type that no context here names fails at run time ("JsonTypeInfo metadata ... was not provided"), so a
/// new surface adds its own context (one per folder, e.g. <c>OpenTerminalApi/OpenTerminalJson.cs</c>) to this list.
/// </summary>
internal static class WardenJsonContexts
{
    public static readonly IReadOnlyList<IJsonTypeInfoResolver> All =
    [
        HostingJson.Default,
        NativeApi.NativeApiJson.Default,
        Streaming.StreamingJson.Default,
        JupyterApi.JupyterHttpJson.Default,
        OpenTerminalApi.OpenTerminalJson.Default,
        OpenTerminalApi.PtyJson.Default,
        OpenTerminalApi.NotebookJson.Default,
        OpenTerminalApi.TerminalUiJson.Default,
        Metrics.MetricsJson.Default,
        Cluster.ClusterJson.Default,
        McpApi.McpJson.Default,
    ];

    /// <summary>
    /// Makes the contexts <paramref name="options"/>' resolvers, ahead of any other the framework put there (ASP.NET Core's
    /// own contexts) but without the reflection resolver a JIT build would add: the JIT build and the tests then fail on
    /// a type no context names exactly as the native binary does, instead of passing where it would not.
    /// </summary>
    public static JsonSerializerOptions Chain(JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var others = options.TypeInfoResolverChain.Where(r => r is not DefaultJsonTypeInfoResolver && !All.Contains(r)).ToList();
        options.TypeInfoResolverChain.Clear();
        foreach (var context in All.Concat(others)) options.TypeInfoResolverChain.Add(context);
        return options;
    }
}

public static class JsonOptionsTypeInfo
{
    /// <summary>The typed metadata <paramref name="options"/>' resolvers give for <typeparamref name="T"/> (no reflection).</summary>
    public static JsonTypeInfo<T> Info<T>(this JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return (JsonTypeInfo<T>)options.GetTypeInfo(typeof(T));
    }
}
