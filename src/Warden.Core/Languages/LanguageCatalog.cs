using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Warden.Core.Execution;

namespace Warden.Core.Languages;

/// <summary>
/// The languages this host can run: the built-in catalog plus an optional operator file, filtered by which binaries exist.
/// Lookups accept names and aliases, case-insensitively.
/// </summary>
public sealed class LanguageCatalog
{
    private readonly FrozenDictionary<string, InstalledLanguage> _byName;
    private readonly ConcurrentDictionary<string, string> _versions = new();

    public LanguageCatalog(IOptions<WardenOptions> options)
        : this(LoadDefinitions(options.Value.LanguagesFile), options.Value.EnabledLanguages, options.Value.DisabledLanguages)
    {
    }

    internal LanguageCatalog(IReadOnlyList<LanguageDefinition> definitions, IReadOnlyCollection<string>? enabled = null,
        IReadOnlyCollection<string>? disabled = null)
    {
        All = definitions;
        var installed = new List<InstalledLanguage>();
        foreach (var definition in definitions)
        {
            if (enabled is { Count: > 0 } && !enabled.Contains(definition.Name, StringComparer.OrdinalIgnoreCase)) continue;
            if (disabled is { Count: > 0 } && definition.Aliases.Prepend(definition.Name).Any(n => disabled.Contains(n, StringComparer.OrdinalIgnoreCase))) continue;
            var binary = definition.Binaries.FirstOrDefault(File.Exists);
            if (binary is not null) installed.Add(new InstalledLanguage(definition, binary));
        }
        Installed = installed;
        var map = new Dictionary<string, InstalledLanguage>(StringComparer.OrdinalIgnoreCase);
        foreach (var language in installed)
        {
            foreach (var key in language.Definition.Aliases.Prepend(language.Name)) map.TryAdd(key, language);
        }
        _byName = map.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Every catalog entry, installed or not.</summary>
    public IReadOnlyList<LanguageDefinition> All { get; }

    public IReadOnlyList<InstalledLanguage> Installed { get; }

    public InstalledLanguage Resolve(string? nameOrAlias)
    {
        if (string.IsNullOrWhiteSpace(nameOrAlias))
            throw new InvalidRequestException("language is required.", "language");
        return _byName.TryGetValue(nameOrAlias.Trim(), out var language)
            ? language
            : throw new UnknownLanguageException(nameOrAlias, Installed.Select(l => l.Name));
    }

    public InstalledLanguage? FindByExtension(string extension) =>
        Installed.FirstOrDefault(l => string.Equals(l.Definition.Extension, extension, StringComparison.OrdinalIgnoreCase));

    /// <summary>The version the language reports, probed once on the host (outside any sandbox) and cached.</summary>
    public string GetVersion(InstalledLanguage language) => _versions.GetOrAdd(language.Name, _ => Probe(language));

    private static string Probe(InstalledLanguage language)
    {
        var command = language.Expand(language.Definition.Version, "/nonexistent", "none");
        if (command.Count == 0 || !File.Exists(command[0])) return "unknown";
        try
        {
            var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in command.Skip(1)) start.ArgumentList.Add(arg);
            start.Environment.Clear();
            start.Environment["PATH"] = "/usr/bin:/bin";
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(10_000)) { process.Kill(true); return "unknown"; }
            var text = (stdout.Result + "\n" + stderr.Result).Trim();
            return ExtractVersion(text);
        }
        catch (Exception e) when (e is IOException or System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return "unknown";
        }
    }

    /// <summary>Pulls the first dotted version number out of a tool's banner ("Python 3.11.2" → "3.11.2").</summary>
    internal static string ExtractVersion(string banner)
    {
        var match = System.Text.RegularExpressions.Regex.Match(banner, @"\d+(\.\d+)+");
        return match.Success ? match.Value : (banner.Length == 0 ? "unknown" : banner.Split('\n')[0].Trim());
    }

    internal static IReadOnlyList<LanguageDefinition> LoadDefinitions(string? extraFile)
    {
        using var stream = typeof(LanguageCatalog).Assembly.GetManifestResourceStream("Warden.Core.languages.json")
            ?? throw new InvalidOperationException("The embedded language catalog is missing.");
        var list = new List<LanguageDefinition>(Parse(stream, "built-in catalog"));
        if (!string.IsNullOrEmpty(extraFile))
        {
            using var extra = File.OpenRead(extraFile);
            foreach (var definition in Parse(extra, extraFile))
            {
                list.RemoveAll(l => string.Equals(l.Name, definition.Name, StringComparison.OrdinalIgnoreCase));
                list.Add(definition);
            }
        }
        return list;
    }

    private static List<LanguageDefinition> Parse(Stream stream, string source)
    {
        var file = JsonSerializer.Deserialize(stream, CatalogJson.Default.CatalogFile)
            ?? throw new InvalidOperationException($"{source}: empty language catalog.");
        var languages = file.Languages.Select(WithDefaults).ToList();
        foreach (var l in languages)
        {
            if (l.Run.Count == 0) throw new InvalidOperationException($"{source}: language '{l.Name}' has no run command.");
            if (l.Binaries.Any(b => !Path.IsPathRooted(b)))
                throw new InvalidOperationException($"{source}: language '{l.Name}' binaries must be absolute paths.");
        }
        return languages;
    }

    /// <summary>
    /// The generated reader sets every init-only property, an absent one to null, where the reflection reader left the
    /// property's initializer in place: the optional lists and maps are put back to empty here.
    /// </summary>
    private static LanguageDefinition WithDefaults(LanguageDefinition l) => l with
    {
        Aliases = l.Aliases ?? [],
        Binaries = l.Binaries ?? [],
        Version = l.Version ?? [],
        Env = l.Env ?? new Dictionary<string, string>(),
        CompileEnv = l.CompileEnv ?? new Dictionary<string, string>(),
    };

}

internal sealed record CatalogFile(List<LanguageDefinition> Languages);

/// <summary>The catalog file's reader, generated at build time (Native AOT has no reflection-based serializer).</summary>
[JsonSourceGenerationOptions(PropertyNameCaseInsensitive = true, ReadCommentHandling = JsonCommentHandling.Skip)]
[JsonSerializable(typeof(CatalogFile))]
internal sealed partial class CatalogJson : JsonSerializerContext;
