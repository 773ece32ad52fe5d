using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Warden.Core.Sessions;

namespace Warden.Server.JupyterApi;

/// <summary>jupyter_server's REST shapes (snake_case, nulls left out), as clients such as @jupyterlab/services validate them.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(KernelModel))]
[JsonSerializable(typeof(List<KernelModel>))]
[JsonSerializable(typeof(KernelSpecsModel))]
[JsonSerializable(typeof(KernelStartRequest))]
[JsonSerializable(typeof(JupyterVersionDto))]
[JsonSerializable(typeof(JupyterStatusDto))]
[JsonSerializable(typeof(JsonObject))]
internal sealed partial class JupyterHttpJson : JsonSerializerContext;

/// <summary>Body of <c>POST /api/kernels</c> (optional).</summary>
/// <summary>
/// <c>POST /api/kernels</c>: Jupyter's <c>name</c>, and Warden's optional <c>network</c> (as on the native API; absent:
/// the server's <c>Warden:Jupyter:Network</c>). Jupyter clients ignore fields they do not know.
/// </summary>
internal sealed record KernelStartRequest(string? Name, NativeApi.NetworkRequest? Network = null);

internal sealed record KernelModel(string Id, string Name, DateTimeOffset LastActivity, string ExecutionState, int Connections)
{
    public static KernelModel From(Session session, int connections) => new(session.Id, session.Kernel.KernelName, session.LastActivity,
        session.State switch
        {
            SessionState.Busy => "busy",
            SessionState.Starting => "starting",
            SessionState.Restarting => "restarting",
            SessionState.Dead or SessionState.Closed => "dead",
            _ => "idle",
        }, connections);
}

internal sealed record KernelSpecFile(IReadOnlyList<string> Argv, string DisplayName, string Language, string InterruptMode,
    IReadOnlyDictionary<string, string> Env, IReadOnlyDictionary<string, object> Metadata);

internal sealed record KernelSpecModel(string Name, KernelSpecFile Spec, IReadOnlyDictionary<string, string> Resources)
{
    public static KernelSpecModel From(KernelDefinition kernel) => new(kernel.KernelName,
        new KernelSpecFile(["warden-kernel", kernel.Language], kernel.DisplayName, kernel.Language, "signal", new Dictionary<string, string>(),
            new Dictionary<string, object>()),
        new Dictionary<string, string>());
}

internal sealed record KernelSpecsModel(string Default, IReadOnlyDictionary<string, KernelSpecModel> Kernelspecs);

/// <summary><c>GET /api</c>: the jupyter_server version this surface speaks.</summary>
internal sealed record JupyterVersionDto(string Version);

/// <summary><c>GET /api/status</c>.</summary>
internal sealed record JupyterStatusDto(DateTimeOffset Started, DateTimeOffset LastActivity, int Kernels, int Connections);
