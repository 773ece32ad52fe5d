namespace Warden.Core.Sessions;

/// <summary>
/// A kernel a session can run: the driver program (shipped as support files, bound read-only at
/// <see cref="SupportDirectory"/>), how to start it, and the facts Jupyter clients show (kernelspec, language_info).
/// </summary>
public sealed record KernelDefinition
{
    public const string SupportDirectory = "/opt/warden";

    /// <summary>Warden's language name ("python", "bash", "javascript").</summary>
    public required string Language { get; init; }
    /// <summary>The Jupyter kernelspec name ("python3").</summary>
    public required string KernelName { get; init; }
    public IReadOnlyList<string> Aliases { get; init; } = [];
    public required string DisplayName { get; init; }
    public required string FileExtension { get; init; }
    public required string Mimetype { get; init; }
    public string? PygmentsLexer { get; init; }
    public string? CodeMirrorMode { get; init; }
    /// <summary>The interpreter's version as reported by the language catalog.</summary>
    public string Version { get; init; } = "";
    public required IReadOnlyList<string> Argv { get; init; }
    public required IReadOnlyDictionary<string, string> Environment { get; init; }
    public required IReadOnlyDictionary<string, byte[]> SupportFiles { get; init; }
}
