namespace Warden.Core.Execution;

/// <summary>
/// What collecting a finished sandbox's workspace found: the regular files returned, the entries left out and why (at
/// most <see cref="MaxSkippedReported"/> of them), and whether a limit cut the collection short.
/// </summary>
public sealed record CollectedFiles(IReadOnlyList<OutputFile> Files, IReadOnlyList<SkippedFile> Skipped, bool Truncated)
{
    /// <summary>Skipped entries listed in a result; the rest are counted in <see cref="Truncated"/>'s sense only.</summary>
    public const int MaxSkippedReported = 64;

    public static CollectedFiles None { get; } = new([], [], false);
}

/// <summary>An entry of the workspace that was not returned. Names that are not UTF-8 are shown with U+FFFD.</summary>
public sealed record SkippedFile(string Name, FileSkipReason Reason);

/// <summary>Why a workspace entry was not returned.</summary>
public enum FileSkipReason
{
    /// <summary>A symbolic link: never followed, its target never read.</summary>
    Symlink,
    Fifo,
    Socket,
    /// <summary>A character or block device node.</summary>
    Device,
    /// <summary>Larger on its own than the bytes a result may carry (sparse or not): never read.</summary>
    TooLarge,
    /// <summary>The file or byte limit was reached before this file (the result is truncated).</summary>
    OverLimit,
    /// <summary>A directory deeper than the walk goes; nothing below it was looked at.</summary>
    TooDeep,
    /// <summary>The walk's entry budget ran out here; nothing after it was looked at.</summary>
    TooManyEntries,
    /// <summary>The name is not UTF-8, so no JSON result could name it.</summary>
    NameNotUtf8,
    /// <summary>The path is longer than a result may name.</summary>
    NameTooLong,
    /// <summary>The sandbox's user may not read it (e.g. the program made it mode 000).</summary>
    Unreadable,
    /// <summary>It changed or vanished while it was read.</summary>
    Changed,
    /// <summary>Another filesystem is mounted there.</summary>
    OtherFilesystem,
    /// <summary>An archive (the Docker backend's) named it absolute, with "..", or with empty segments.</summary>
    BadName,
}

public static class FileSkipReasonExtensions
{
    public static string ToWireName(this FileSkipReason reason) => reason switch
    {
        FileSkipReason.Symlink => "symlink",
        FileSkipReason.Fifo => "fifo",
        FileSkipReason.Socket => "socket",
        FileSkipReason.Device => "device",
        FileSkipReason.TooLarge => "too_large",
        FileSkipReason.OverLimit => "over_limit",
        FileSkipReason.TooDeep => "too_deep",
        FileSkipReason.TooManyEntries => "too_many_entries",
        FileSkipReason.NameNotUtf8 => "name_not_utf8",
        FileSkipReason.NameTooLong => "name_too_long",
        FileSkipReason.Unreadable => "unreadable",
        FileSkipReason.Changed => "changed",
        FileSkipReason.OtherFilesystem => "other_filesystem",
        FileSkipReason.BadName => "bad_name",
        _ => throw new ArgumentOutOfRangeException(nameof(reason)),
    };
}
