using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Core.Ownership;
using Warden.Core.Sessions;

namespace Warden.Server.NativeApi;

/// <summary>Body of <c>POST /api/v1/sessions</c>. Limits left out get the session defaults (GET /api/v1/config).</summary>
public sealed record CreateSessionRequest
{
    /// <summary>Kernel language: python, bash or javascript (or an alias); default python.</summary>
    public string? Language { get; init; }
    /// <summary>
    /// The user the session belongs to, a name inside the caller's API key (default: the <c>X-User-Id</c> header, else
    /// "default"). It sets the per-user cap's bucket and who may reach the session; the key's own cap counts all its users.
    /// </summary>
    public string? User { get; init; }
    /// <summary>Default timeout of each cell, seconds.</summary>
    public double? Timeout { get; init; }
    /// <summary>Output cap of each cell, bytes.</summary>
    public long? MaxOutputBytes { get; init; }
    /// <summary>Memory of the whole session, MB.</summary>
    public int? MemoryMb { get; init; }
    /// <summary>Processes and threads of the whole session.</summary>
    public int? MaxProcesses { get; init; }
    /// <summary>
    /// Network for the session's whole life, as for an execution: <c>true</c> is the egress ceiling, <c>{"allow": [...]}</c>
    /// a subset of it; only through Warden's egress proxy, never the host's network.
    /// </summary>
    public NetworkRequest? Network { get; init; }

    public SessionRequest ToCore(Principal owner) => new(Language, owner, new LimitRequest
    {
        TimeoutSeconds = Timeout, MaxOutputBytes = MaxOutputBytes, MemoryMb = MemoryMb, MaxProcesses = MaxProcesses,
    }, Network?.Enabled ?? false, Network?.Allow);
}

/// <summary>Body of <c>POST /api/v1/sessions/{id}/execute</c>.</summary>
public sealed record SessionExecuteRequest(string? Code, double? Timeout);

public sealed record SessionLimitsDto(double Timeout, long MaxOutputBytes, int MemoryMb, int MaxProcesses);

public sealed record SessionDto(string Id, string Language, string User, string State, DateTimeOffset CreatedAt, DateTimeOffset LastActivity,
    int ExecutionCount, SessionLimitsDto Limits)
{
    public static SessionDto From(Session s) => new(s.Id, s.Kernel.Language, s.Owner.User, s.State.ToString().ToLowerInvariant(), s.CreatedAt,
        s.LastActivity, s.ExecutionCount, new SessionLimitsDto(s.Limits.CellTimeout.TotalSeconds, s.Limits.MaxOutputBytes,
            (int)(s.Limits.Sandbox.MemoryBytes >> 20), s.Limits.Sandbox.MaxProcesses));
}

/// <summary>One output, Jupyter-shaped: <c>output_type</c> is stream, display_data, execute_result or error.</summary>
public sealed record CellOutputDto(string OutputType,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Name = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Text = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] JsonElement? Data = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] JsonElement? Metadata = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? ExecutionCount = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Ename = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Evalue = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? Traceback = null)
{
    public static CellOutputDto From(CellOutput output) => output switch
    {
        StreamOutput s => new("stream", Name: s.Name, Text: s.Text),
        DisplayDataOutput d => new("display_data", Data: d.Data, Metadata: d.Metadata),
        ExecuteResultOutput r => new("execute_result", Data: r.Data, Metadata: r.Metadata, ExecutionCount: r.ExecutionCount),
        ErrorOutput e => new("error", Ename: e.Name, Evalue: e.Value, Traceback: e.Traceback),
        _ => throw new ArgumentOutOfRangeException(nameof(output)),
    };
}

/// <summary>
/// Result of one cell. <c>stdout</c>/<c>stderr</c> concatenate the streams and <c>result</c> is the last expression's
/// text/plain, for callers that want plain strings; <c>outputs</c> has everything in order.
/// </summary>
public sealed record SessionExecuteResponse(string Status, int ExecutionCount, string Stdout, string Stderr, string? Result,
    IReadOnlyList<CellOutputDto> Outputs, CellErrorDto? Error, long WallTimeMs, long CpuTimeMs, double MemoryPeakMb, bool OutputTruncated,
    bool KernelLost, string? Detail)
{
    public static SessionExecuteResponse From(CellResult r)
    {
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        string? result = null;
        foreach (var output in r.Outputs)
        {
            if (output is StreamOutput s) (s.Name == "stderr" ? stderr : stdout).Append(s.Text);
            if (output is ExecuteResultOutput e && e.Data.TryGetProperty("text/plain", out var text)) result = text.GetString();
        }
        return new(r.Status.ToWireName(), r.ExecutionCount, stdout.ToString(), stderr.ToString(), result, r.Outputs.Select(CellOutputDto.From).ToList(),
            r.Error is { } error ? new CellErrorDto(error.Name, error.Value, error.Traceback) : null, (long)r.WallTime.TotalMilliseconds,
            (long)r.CpuTime.TotalMilliseconds, Math.Round(r.PeakMemoryBytes / 1048576.0, 2), r.OutputTruncated, r.KernelLost, r.Detail);
    }
}

public sealed record CellErrorDto(string Ename, string Evalue, IReadOnlyList<string> Traceback);
