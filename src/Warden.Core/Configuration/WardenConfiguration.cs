using Microsoft.Extensions.Configuration;

namespace Warden.Core.Configuration;

/// <summary>
/// Builds Warden's configuration, lowest precedence first: built-in defaults (the options classes), a config file
/// (JSON, or YAML for <c>.yaml</c>/<c>.yml</c>), Sandbox Executor's variable names (<see cref="SandboxExecutorAliases"/>), <c>WARDEN_*</c>
/// environment variables, then command-line overrides.
/// </summary>
public static class WardenConfiguration
{
    public static IConfigurationBuilder AddWardenSources(this IConfigurationBuilder builder, string? configFile,
        IReadOnlyDictionary<string, string?>? overrides = null, IDictionary<string, string?>? environment = null)
    {
        if (!string.IsNullOrEmpty(configFile))
        {
            if (!File.Exists(configFile)) throw new FileNotFoundException($"Config file '{configFile}' does not exist.", configFile);
            var extension = Path.GetExtension(configFile).ToLowerInvariant();
            if (extension is ".yaml" or ".yml") builder.AddInMemoryCollection(YamlConfiguration.Load(configFile));
            else builder.AddJsonFile(Path.GetFullPath(configFile), optional: false, reloadOnChange: false);
        }
        builder.AddInMemoryCollection(FromEnvironment(environment ?? ReadEnvironment()));
        if (overrides is not null) builder.AddInMemoryCollection(overrides);
        return builder;
    }

    /// <summary>Maps <c>WARDEN_*</c> variables to configuration keys (flat names from the catalog, or <c>__</c> paths).</summary>
    public static Dictionary<string, string?> FromEnvironment(IDictionary<string, string?> environment) =>
        FromEnvironment(environment, includeAliases: true);

    /// <summary>As <see cref="FromEnvironment(IDictionary{string, string?})"/>; aliases (Sandbox Executor's names) rank below <c>WARDEN_*</c>.</summary>
    public static Dictionary<string, string?> FromEnvironment(IDictionary<string, string?> environment, bool includeAliases)
    {
        var byEnv = SettingsCatalog.All.ToDictionary(s => s.EnvironmentVariable, StringComparer.OrdinalIgnoreCase);
        var result = includeAliases ? SandboxExecutorAliases.Map(environment) : new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in environment)
        {
            if (!name.StartsWith("WARDEN_", StringComparison.OrdinalIgnoreCase)) continue;
            if (byEnv.TryGetValue(name, out var setting))
            {
                if (setting.Key is "Warden:EnabledLanguages" or "Warden:DisabledLanguages")
                {
                    var items = (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    for (int i = 0; i < items.Length; i++) result[$"{setting.Key}:{i}"] = items[i];
                }
                else result[setting.Key] = value;
            }
            else if (RetiredSettings.ByEnvironmentVariable(name) is { } retired)
            {
                // Kept visible under its key, so that start-up can say it is ignored (RetiredSettingsWarning).
                result[retired.Key] = value;
            }
            else if (name.Contains("__", StringComparison.Ordinal))
            {
                result["Warden:" + name["WARDEN_".Length..].Replace("__", ":", StringComparison.Ordinal)] = value;
            }
        }
        return result;
    }

    private static Dictionary<string, string?> ReadEnvironment()
    {
        var result = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
            result[(string)entry.Key] = (string?)entry.Value;
        return result;
    }
}
