using System.ComponentModel.DataAnnotations;

namespace Warden.Server.History;

/// <summary>Section <c>Warden:History</c>: the execution history kept in the database.</summary>
public sealed class HistoryOptions
{
    public const string Section = "Warden:History";

    public bool Enabled { get; set; } = true;

    /// <summary>Rows older than this are deleted.</summary>
    [Range(0.001, 36500)] public double RetentionDays { get; set; } = 30;

    /// <summary>At most this many rows are kept (the oldest go first).</summary>
    [Range(1, long.MaxValue)] public long MaxRows { get; set; } = 1_000_000;

    /// <summary>How often retention runs.</summary>
    [Range(1, 86400)] public int RetentionIntervalSeconds { get; set; } = 300;

    /// <summary>Records waiting for the background writer; when full, requests wait (nothing is dropped).</summary>
    [Range(1, 1_000_000)] public int QueueCapacity { get; set; } = 10_000;
}

/// <summary>Section <c>Warden:Audit</c>: the JSON-lines audit log.</summary>
public sealed class AuditOptions
{
    public const string Section = "Warden:Audit";

    public bool Enabled { get; set; } = true;

    /// <summary>The file (appended); default <c>{StateDirectory}/audit.log</c>.</summary>
    public string? Path { get; set; }

    /// <summary>Write the submitted code itself into each line (otherwise only its SHA-256 and size).</summary>
    public bool IncludeCode { get; set; }

    /// <summary>
    /// The file is rotated before it would grow past this many bytes: <c>audit.log</c> becomes <c>audit.log.1</c>, the
    /// older ones move up by one. 0 never rotates.
    /// </summary>
    [Range(0, long.MaxValue)] public long MaxFileBytes { get; set; } = 100L << 20;

    /// <summary>Rotated files kept (<c>audit.log.1</c> … <c>.N</c>); the oldest beyond that is deleted.</summary>
    [Range(1, 1000)] public int KeepFiles { get; set; } = 10;
}
