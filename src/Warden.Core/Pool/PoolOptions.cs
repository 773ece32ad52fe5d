using System.ComponentModel.DataAnnotations;

namespace Warden.Core.Pool;

/// <summary>Configuration section <c>Warden:Pool</c>: sandboxes started ahead of their request, interpreter loaded.</summary>
public sealed class PoolOptions
{
    public const string Section = "Warden:Pool";

    /// <summary>
    /// Whether interpreted languages run in warm sandboxes when one is ready. Defaults to false: the pool keeps Size idle
    /// interpreters (on gVisor, their Sentries too) in memory, a cost an operator should choose. (The stall seen once in
    /// an earlier version, a warm run that never received its go-message over a separate pipe, did not recur in 800
    /// requests from 16 concurrent callers since the message travels on stdin.)
    /// </summary>
    public bool Enabled { get; set; }

    /// <summary>Warm sandboxes kept ready, across languages. Defaults to 8.</summary>
    [Range(0, 1024)] public int Size { get; set; } = 8;

    /// <summary>
    /// The split of <see cref="Size"/> by language while no demand is known (and always, without
    /// <see cref="Adaptive"/>); scaled down when it adds up to more. Defaults to python 4, javascript 2, bash 2.
    /// </summary>
    public Dictionary<string, int> Targets { get; set; } = new(StringComparer.Ordinal) { ["python"] = 4, ["javascript"] = 2, ["bash"] = 2 };

    /// <summary>Shift warm sandboxes toward the languages recently asked for. Defaults to true.</summary>
    public bool Adaptive { get; set; } = true;

    /// <summary>With <see cref="Adaptive"/>: ready sandboxes each language of <see cref="Targets"/> keeps whatever the demand. Defaults to 1.</summary>
    [Range(0, 1024)] public int MinPerLanguage { get; set; } = 1;

    /// <summary>How far back demand counts, in seconds. Defaults to 60.</summary>
    [Range(1, 86400)] public int DemandWindowSeconds { get; set; } = 60;

    /// <summary>Sandboxes being started at once; each costs an interpreter start-up of CPU. Defaults to 2.</summary>
    [Range(1, 256)] public int MaxParallelStarts { get; set; } = 2;
}
