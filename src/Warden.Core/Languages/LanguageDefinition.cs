namespace Warden.Core.Languages;

/// <summary>One entry of the language catalog (<c>languages.json</c>).</summary>
public sealed record LanguageDefinition
{
    public required string Name { get; init; }
    public IReadOnlyList<string> Aliases { get; init; } = [];
    public required string Extension { get; init; }
    /// <summary>The main file's name in the workspace; defaults to <c>main</c> + extension.</summary>
    public string? MainFile { get; init; }
    /// <summary>Candidate absolute paths of the interpreter or compiler; the first that exists is used.</summary>
    public IReadOnlyList<string> Binaries { get; init; } = [];
    public IReadOnlyList<string> Version { get; init; } = [];
    public IReadOnlyList<string>? Compile { get; init; }
    public required IReadOnlyList<string> Run { get; init; }
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();
    public IReadOnlyDictionary<string, string> CompileEnv { get; init; } = new Dictionary<string, string>();

    public bool IsCompiled => Compile is { Count: > 0 };

    public string MainFileName => MainFile ?? "main" + Extension;
}

/// <summary>A language whose binary exists on this host, with its resolved paths.</summary>
public sealed record InstalledLanguage(LanguageDefinition Definition, string Binary)
{
    public string Name => Definition.Name;

    /// <summary>Expands a command template for a workspace mounted at <paramref name="workspace"/>.</summary>
    public IReadOnlyList<string> Expand(IReadOnlyList<string> template, string workspace, string mainFile) =>
        template.Select(t => t.Replace("{bin}", Binary).Replace("{dir}", workspace).Replace("{main}", $"{workspace}/{mainFile}")).ToArray();
}
