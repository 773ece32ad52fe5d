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

    /// <summary>
    /// The caller asks for network access: egress through Warden's proxy to the server's whole ceiling
    /// (<c>WARDEN_EGRESS_ALLOW</c>), or to <see cref="NetworkAllow"/> when given. Never the host's network.
    /// </summary>
    public bool Network { get; init; }

    /// <summary><c>"network": {"allow": [...]}</c>: host patterns within the ceiling; an empty list is no network.</summary>
    public IReadOnlyList<string>? NetworkAllow { get; init; }

    /// <summary>Who asked (API key id, user), written in the egress audit records; "anonymous" when unknown.</summary>
    public string? Principal { get; init; }

    /// <summary>Return the files the program created or changed in its workspace (bounded by the output-file limits).</summary>
    public bool CollectFiles { get; init; }

    /// <summary>
    /// Called on the reading thread with each chunk of output as it is read (streaming APIs). Must not block; null for
    /// one-shot runs, which then pay nothing for it.
    /// </summary>
    public Action<OutputChunk>? Output { get; init; }

    /// <summary>
    /// Interactive stdin (after <see cref="Stdin"/>, if both are given): copied to the program as it arrives until the
    /// stream ends or the program exits. The caller bounds its size.
    /// </summary>
    public Stream? StdinStream { get; init; }
}

/// <summary>A file placed in the sandbox's workspace before the program starts.</summary>
public sealed record SourceFile(string Name, string Content);
