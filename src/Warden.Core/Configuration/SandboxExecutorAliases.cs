using System.Globalization;
using Warden.Core.Limits;

namespace Warden.Core.Configuration;

/// <summary>
/// The environment variable names of Sandbox Executor, the Rust code-execution service Warden replaces (MAX_EXECUTION_TIME, ENABLE_PYTHON, RATE_LIMIT_PER_MINUTE…),
/// accepted so its deployments' env files work unchanged. They rank below <c>WARDEN_*</c> variables. A value that
/// makes no sense stops start-up with the variable's name.
/// </summary>
public static class SandboxExecutorAliases
{
    /// <summary>Alias, what it sets, for documentation and <c>warden doctor</c>.</summary>
    public static readonly IReadOnlyList<(string Variable, string Sets)> Documented =
    [
        ("MAX_EXECUTION_TIME", "Warden:Limits:Ceiling:TimeoutSeconds (and the default, if lower)"),
        ("MAX_MEMORY_MB", "Warden:Limits:Ceiling:MemoryMb (and the default, if lower)"),
        ("MAX_CONCURRENT_EXECUTIONS", "Warden:MaxConcurrent"),
        ("ENABLE_<LANGUAGE>", "false adds the language to Warden:DisabledLanguages (SHELL = bash and sh)"),
        ("NETWORK_MODE", "none → Warden:Limits:AllowNetwork=false; bridge or host → true, i.e. WARDEN_EGRESS_ALLOW=* through the egress proxy (never the host network)"),
        ("ENABLE_AUDIT_LOG", "Warden:Audit:Enabled"),
        ("RATE_LIMIT_PER_MINUTE", "Warden:RateLimits:PerMinute"),
        ("RATE_LIMIT_BURST", "Warden:RateLimits:Burst"),
        ("SANDBOX_PORT", "Warden:Urls = http://127.0.0.1:PORT"),
        ("READ_ONLY_ROOT, DROP_ALL_CAPABILITIES", "always on in Warden; false is refused"),
    ];

    private static readonly Dictionary<string, string[]> LanguageGroups = new(StringComparer.OrdinalIgnoreCase)
    {
        ["SHELL"] = ["bash", "sh"],
        ["JAVASCRIPT"] = ["javascript"],
        ["NODE"] = ["javascript"],
        ["CPP"] = ["c++"],
    };

    private static readonly HashSet<string> NotLanguages = new(StringComparer.OrdinalIgnoreCase) { "AUDIT_LOG", "CODE_EXECUTION" };

    public static Dictionary<string, string?> Map(IDictionary<string, string?> environment)
    {
        var result = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var env = new Dictionary<string, string?>(environment, StringComparer.OrdinalIgnoreCase);
        var defaults = new LimitsOptions().Default;
        bool hasWarden(string name) => env.ContainsKey(name);

        if (Get(env, "MAX_EXECUTION_TIME") is { } time)
        {
            var seconds = Number("MAX_EXECUTION_TIME", time, min: 0.001);
            result["Warden:Limits:Ceiling:TimeoutSeconds"] = Text(seconds);
            if (!hasWarden("WARDEN_DEFAULT_TIMEOUT") && seconds < defaults.TimeoutSeconds) result["Warden:Limits:Default:TimeoutSeconds"] = Text(seconds);
        }
        if (Get(env, "MAX_MEMORY_MB") is { } memory)
        {
            var mb = (int)Number("MAX_MEMORY_MB", memory, min: 1, integer: true);
            result["Warden:Limits:Ceiling:MemoryMb"] = Text(mb);
            if (!hasWarden("WARDEN_DEFAULT_MEMORY_MB") && mb < defaults.MemoryMb) result["Warden:Limits:Default:MemoryMb"] = Text(mb);
        }
        if (Get(env, "MAX_CONCURRENT_EXECUTIONS") is { } concurrent)
            result["Warden:MaxConcurrent"] = Text(Number("MAX_CONCURRENT_EXECUTIONS", concurrent, min: 1, integer: true));
        if (Get(env, "NETWORK_MODE") is { } network)
        {
            result["Warden:Limits:AllowNetwork"] = network.Trim().ToLowerInvariant() switch
            {
                "none" or "disabled" => "false",
                "bridge" or "host" or "enabled" => "true",
                _ => throw new InvalidConfigurationException("NETWORK_MODE", $"'{network}' is not one of none, bridge, host."),
            };
        }
        if (Get(env, "ENABLE_AUDIT_LOG") is { } audit) result["Warden:Audit:Enabled"] = Text(Flag("ENABLE_AUDIT_LOG", audit));
        if (Get(env, "RATE_LIMIT_PER_MINUTE") is { } perMinute)
            result["Warden:RateLimits:PerMinute"] = Text(Number("RATE_LIMIT_PER_MINUTE", perMinute, min: 0, integer: true));
        if (Get(env, "RATE_LIMIT_BURST") is { } burst)
            result["Warden:RateLimits:Burst"] = Text(Number("RATE_LIMIT_BURST", burst, min: 1, integer: true));
        if (Get(env, "SANDBOX_PORT") is { } port)
            result["Warden:Urls"] = "http://127.0.0.1:" + Text(Number("SANDBOX_PORT", port, min: 1, max: 65535, integer: true));
        foreach (var always in new[] { "READ_ONLY_ROOT", "DROP_ALL_CAPABILITIES" })
        {
            if (Get(env, always) is { } value && !Flag(always, value))
                throw new InvalidConfigurationException(always, "Warden always runs sandboxes this way; it cannot be turned off.");
        }

        var disabled = new List<string>();
        foreach (var (name, value) in env.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (!name.StartsWith("ENABLE_", StringComparison.OrdinalIgnoreCase) || value is null) continue;
            var language = name["ENABLE_".Length..];
            if (NotLanguages.Contains(language)) continue;
            if (Flag(name, value)) continue;
            disabled.AddRange(LanguageGroups.TryGetValue(language, out var group) ? group : [language.ToLowerInvariant()]);
        }
        for (int i = 0; i < disabled.Count; i++) result[$"Warden:DisabledLanguages:{i}"] = disabled[i];
        return result;
    }

    private static string? Get(Dictionary<string, string?> env, string name) =>
        env.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;

    private static double Number(string name, string value, double min, double max = double.MaxValue, bool integer = false)
    {
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) || double.IsNaN(number))
            throw new InvalidConfigurationException(name, $"'{value}' is not a number.");
        if (integer && number != Math.Floor(number)) throw new InvalidConfigurationException(name, $"'{value}' must be a whole number.");
        if (number < min || number > max)
            throw new InvalidConfigurationException(name, $"{value} is out of range (at least {Text(min)}{(max < double.MaxValue ? ", at most " + Text(max) : "")}).");
        return number;
    }

    private static bool Flag(string name, string value) => value.Trim().ToLowerInvariant() switch
    {
        "true" or "1" or "yes" or "on" => true,
        "false" or "0" or "no" or "off" => false,
        _ => throw new InvalidConfigurationException(name, $"'{value}' is not true or false."),
    };

    private static string Text(double value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Text(bool value) => value ? "true" : "false";
}
