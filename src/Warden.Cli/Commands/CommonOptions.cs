using System.CommandLine;

namespace Warden.Cli.Commands;

/// <summary>Options several verbs share.</summary>
internal static class CommonOptions
{
    public static Option<string?> Backend() => new("--backend") { Description = "Isolation backend (bwrap, auto)." };

    public static Option<string?> Config() => new("--config") { Description = "Configuration file: JSON, or YAML (.yaml/.yml)." };
}
