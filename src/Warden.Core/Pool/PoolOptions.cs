using System.ComponentModel.DataAnnotations;

namespace Warden.Core.Pool;

/// <summary>Configuration section <c>Warden:Pool</c>: sandboxes started ahead of their request, interpreter loaded.</summary>
public sealed class PoolOptions
{
    public const string Section = "Warden:Pool";

    /// <summary>
    /// Whether interpreted languages run in warm sandboxes when one is ready. Defaults to true: a warm sandbox is the
    /// same single-use sandbox a cold run gets (same spec, same uid, limits armed at go), so the isolation is equal, and
    /// its cost is bounded by <see cref="MinSize"/> idle interpreters until demand grows it, inside the memory budget.
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Warm sandboxes kept ready at most, across languages (with <see cref="Adaptive"/>, the ceiling the pool grows to). Defaults to 8.</summary>
    [Range(0, 1024)] public int Size { get; set; } = 8;

    /// <summary>
    /// With <see cref="Adaptive"/>: warm sandboxes kept ready while idle (capped at <see cref="Size"/>). A request that
    /// finds its language empty grows the pool by one up to <see cref="Size"/>; every <see cref="ShrinkAfterSeconds"/>
    /// without such a request it shrinks by one back to this floor. Defaults to 3: one each of python, javascript, bash.
    /// </summary>
    [Range(0, 1024)] public int MinSize { get; set; } = 3;

    /// <summary>With <see cref="Adaptive"/>: seconds without an empty-pool miss before the pool gives one warm sandbox back. Defaults to 30.</summary>
    [Range(1, 86400)] public int ShrinkAfterSeconds { get; set; } = 30;

    /// <summary>
    /// The split of <see cref="Size"/> by language while no demand is known (and always, without
    /// <see cref="Adaptive"/>); scaled down when it adds up to more. Defaults to python 4, javascript 2, bash 2.
    /// </summary>
    public Dictionary<string, int> Targets { get; set; } = new(StringComparer.Ordinal) { ["python"] = 4, ["javascript"] = 2, ["bash"] = 2 };

    /// <summary>Size the pool from demand and shift warm sandboxes toward the languages recently asked for. Defaults to true.</summary>
    public bool Adaptive { get; set; } = true;

    /// <summary>With <see cref="Adaptive"/>: ready sandboxes each language of <see cref="Targets"/> keeps whatever the demand. Defaults to 1.</summary>
    [Range(0, 1024)] public int MinPerLanguage { get; set; } = 1;

    /// <summary>How far back demand counts, in seconds. Defaults to 60.</summary>
    [Range(1, 86400)] public int DemandWindowSeconds { get; set; } = 60;

    /// <summary>Sandboxes being started at once; each costs an interpreter start-up of CPU. Defaults to 2.</summary>
    [Range(1, 256)] public int MaxParallelStarts { get; set; } = 2;
}
