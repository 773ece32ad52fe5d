using Warden.Core.Limits;

namespace Warden.Core.Execution;

/// <summary>One program to run once, as a caller asked for it (limits not yet resolved).</summary>
public sealed record ExecutionRequest
{
    /// <summary>A language name or alias from the catalog.</summary>
    public required string Language { get; init; }

    /// <summary>The main source file's content. Either this or <see cref="Files"/>.</summary>
    public string? Code { get; init; }

    /// <summary>Several source files; the first is the main file unless <see cref="MainFile"/> names one.</summary>
    public IReadOnlyList<SourceFile>? Files { get; init; }

    public string? MainFile { get; init; }

    public string? Stdin { get; init; }

    public IReadOnlyList<string>? Args { get; init; }

    public LimitRequest Limits { get; init; } = new();

    /// <summary>The caller asks for network access; granted only when the server allows it.</summary>
    public bool Network { get; init; }

    /// <summary>Return the files the program created or changed in its workspace (bounded by the output-file limits).</summary>
    public bool CollectFiles { get; init; }
}

/// <summary>A file placed in the sandbox's workspace before the program starts.</summary>
public sealed record SourceFile(string Name, string Content);
