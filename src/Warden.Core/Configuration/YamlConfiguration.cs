using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Warden.Core.Configuration;

/// <summary>
/// A YAML configuration file, flattened to configuration keys. Nested mappings become <c>:</c> paths; snake_case and
/// kebab-case segments match the PascalCase option names (<c>max_concurrent</c> = <c>MaxConcurrent</c>); a root without
/// a <c>warden</c> section is taken to be that section. Top-level environment-style names (<c>WARDEN_MAX_TIMEOUT</c>,
/// Sandbox Executor's <c>MAX_EXECUTION_TIME</c>) are accepted too.
/// </summary>
public static class YamlConfiguration
{
    public static Dictionary<string, string?> Load(string path)
    {
        var stream = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            stream.Load(reader);
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new InvalidConfigurationException(path, $"invalid YAML at line {e.Start.Line}, column {e.Start.Column}: {e.Message}");
        }
        var result = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root) return result;

        var environmentStyle = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        bool hasSection = root.Children.Keys.OfType<YamlScalarNode>().Any(k => string.Equals(k.Value, "warden", StringComparison.OrdinalIgnoreCase));
        foreach (var (keyNode, value) in root.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? "";
            if (value is YamlScalarNode scalar && IsEnvironmentStyle(key))
            {
                environmentStyle[key] = scalar.Value;
                continue;
            }
            Flatten(hasSection ? Segment(key) : "Warden:" + Segment(key), value, result);
        }
        foreach (var (k, v) in WardenConfiguration.FromEnvironment(environmentStyle, includeAliases: true)) result[k] = v;
        return result;
    }

    private static bool IsEnvironmentStyle(string key) => key.Length > 0 && key.All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c) || c == '_') && key.Contains('_');

    private static void Flatten(string prefix, YamlNode node, Dictionary<string, string?> result)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                foreach (var (k, v) in mapping.Children) Flatten(prefix + ":" + Segment(((YamlScalarNode)k).Value ?? ""), v, result);
                break;
            case YamlSequenceNode sequence:
                for (int i = 0; i < sequence.Children.Count; i++) Flatten(prefix + ":" + i.ToString(CultureInfo.InvariantCulture), sequence.Children[i], result);
                break;
            case YamlScalarNode scalar:
                result[prefix] = scalar.Value;
                break;
        }
    }

    /// <summary>Configuration keys are case-insensitive; dropping separators makes snake_case match PascalCase.</summary>
    private static string Segment(string key) => key.Replace("_", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal);
}
