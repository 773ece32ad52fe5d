using Warden.Core.Execution;
using Warden.Core.Limits;

namespace Warden.Server.NativeApi;

/// <summary>Body of <c>POST /api/v1/execute</c>. Sandbox Executor's fields plus files, stdin, args and every limit.</summary>
public sealed record ExecuteRequest
{
    /// <summary>Language name or alias (see GET /api/v1/runtimes).</summary>
    public string? Language { get; init; }
    /// <summary>Source of the main file. Either this or files.</summary>
    public string? Code { get; init; }
    public List<FileDto>? Files { get; init; }
    /// <summary>Which of files is the main file (default: the first).</summary>
    public string? MainFile { get; init; }
    public string? Stdin { get; init; }
    public List<string>? Args { get; init; }
    /// <summary>Wall-clock limit, seconds.</summary>
    public double? Timeout { get; init; }
    /// <summary>CPU-time limit, seconds.</summary>
    public double? CpuTime { get; init; }
    public int? MemoryMb { get; init; }
    public int? MaxProcesses { get; init; }
    public long? MaxOutputBytes { get; init; }
    /// <summary>
    /// Network through Warden's egress proxy: true (the server's whole WARDEN_EGRESS_ALLOW) or {"allow": [patterns]}
    /// (a subset of it). Never the host's network.
    /// </summary>
    public NetworkRequest? Network { get; init; }
    /// <summary>Return the files the program created or changed in its workspace (base64).</summary>
    public bool? CollectFiles { get; init; }

    public ExecutionRequest ToCore() => new()
    {
        Language = Language ?? "",
        Code = Code,
        Files = Files?.Select(f => new SourceFile(f.Name ?? "", f.Content ?? "")).ToList(),
        MainFile = MainFile,
        Stdin = Stdin,
        Args = Args,
        Network = Network?.Enabled ?? false,
        NetworkAllow = Network?.Allow,
        CollectFiles = CollectFiles ?? false,
        Limits = new LimitRequest
        {
            TimeoutSeconds = Timeout, CpuTimeSeconds = CpuTime, MemoryMb = MemoryMb, MaxProcesses = MaxProcesses, MaxOutputBytes = MaxOutputBytes,
        },
    };
}

public sealed record FileDto(string? Name, string? Content);
