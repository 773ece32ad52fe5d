using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Warden.Core.Limits;

/// <summary>The limits a request may set, as defaults or as ceilings.</summary>
public sealed class LimitValues
{
    [Range(0.001, 86400)] public double TimeoutSeconds { get; set; }
    /// <summary>CPU time; 0 in <see cref="LimitsOptions.Default"/> means "the same as the wall timeout".</summary>
    [Range(0, 86400)] public double CpuTimeSeconds { get; set; }
    [Range(8, 1048576)] public int MemoryMb { get; set; }
    [Range(1, 65536)] public int MaxProcesses { get; set; }
    [Range(1024, 1L << 34)] public long MaxOutputBytes { get; set; }
}

/// <summary>Configuration section <c>Warden:Limits</c>.</summary>
public sealed class LimitsOptions
{
    public const string Section = "Warden:Limits";

    /// <summary>Used for any limit a request leaves out.</summary>
    [ValidateObjectMembers]
    public LimitValues Default { get; set; } = new()
    {
        TimeoutSeconds = 10, CpuTimeSeconds = 0, MemoryMb = 256, MaxProcesses = 64, MaxOutputBytes = 1 << 20,
    };

    /// <summary>A request above any of these is rejected with 400 naming the limit.</summary>
    [ValidateObjectMembers]
    public LimitValues Ceiling { get; set; } = new()
    {
        TimeoutSeconds = 60, CpuTimeSeconds = 60, MemoryMb = 2048, MaxProcesses = 512, MaxOutputBytes = 16 << 20,
    };

    /// <summary>Limits of the compile stage of compiled languages; not settable per request.</summary>
    [ValidateObjectMembers]
    public LimitValues Compile { get; set; } = new()
    {
        TimeoutSeconds = 30, CpuTimeSeconds = 30, MemoryMb = 1024, MaxProcesses = 128, MaxOutputBytes = 1 << 20,
    };

    /// <summary>CPU bandwidth of one sandbox, in cores.</summary>
    [Range(0.01, 1024)] public double Cpus { get; set; } = 1;

    /// <summary>Largest single file a sandbox may write (RLIMIT_FSIZE).</summary>
    [Range(1, 1048576)] public int MaxFileSizeMb { get; set; } = 64;

    [Range(16, 65536)] public int MaxOpenFiles { get; set; } = 256;

    /// <summary>Size of the sandbox's private /tmp (tmpfs; counts against its memory).</summary>
    [Range(1, 1048576)] public int TmpMb { get; set; } = 64;

    /// <summary>Size of the writable workspace (tmpfs; counts against its memory).</summary>
    [Range(1, 1048576)] public int WorkspaceMb { get; set; } = 64;

    /// <summary>Whether a request may ask for network access at all.</summary>
    public bool AllowNetwork { get; set; }

    /// <summary>Largest accepted source (code or all files together).</summary>
    [Range(1, 1L << 30)] public long MaxCodeBytes { get; set; } = 1 << 20;

    /// <summary>Most files returned when a request asks to collect the files its program wrote.</summary>
    [Range(0, 10000)] public int MaxOutputFiles { get; set; } = 16;

    /// <summary>Most bytes (all collected files together) returned to the caller.</summary>
    [Range(0, 1L << 30)] public long MaxOutputFilesBytes { get; set; } = 8 << 20;

    /// <summary>Largest accepted stdin.</summary>
    [Range(0, 1L << 30)] public long MaxStdinBytes { get; set; } = 1 << 20;
}
