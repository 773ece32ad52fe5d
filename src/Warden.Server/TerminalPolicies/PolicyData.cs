using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Warden.Core.Execution;
using Warden.Core.Terminals;

namespace Warden.Server.TerminalPolicies;

/// <summary>
/// A policy's <c>data</c> as the orchestrator's <c>PolicyData</c> takes it (every field optional, unknown fields kept):
/// <c>image</c> (here: a language profile this server has), <c>env</c>, <c>cpu_limit</c>, <c>memory_limit</c>,
/// <c>storage</c>, <c>storage_mode</c>, <c>idle_timeout_minutes</c>, and Warden's <c>network</c> (<c>{"allow": [...]}</c>).
/// </summary>
internal static partial class PolicyData
{
    public const int MaxEnvironment = 64, MaxEnvironmentBytes = 32 << 10;
    private static readonly string[] LifecycleKeys = ["reset", "lifecycle", "schedule"];

    /// <summary>The orchestrator's values. <c>shared</c> and <c>shared-rwo</c> differ only in the Kubernetes volume the
    /// orchestrator asks for (ReadWriteMany or ReadWriteOnce); here both are one home image for the whole policy.</summary>
    private static readonly string[] StorageModes = ["per-user", "shared", "shared-rwo"];

    /// <summary>Policy ids become part of URLs and of home keys: a plain name, never a path.</summary>
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
    private static partial Regex EnvNamePattern();

    public static bool IsValidId(string? id) => id is not null && IdPattern().IsMatch(id) && !id.Contains("..", StringComparison.Ordinal);

    /// <summary>Checks <paramref name="data"/>, lowers its limits to the server's ceilings (rewriting them in the data, as
    /// the orchestrator stores clamped values) and returns the data to store.</summary>
    /// <exception cref="InvalidRequestException">A field is malformed, names what this server does not have, or asks
    /// for what it cannot enforce yet.</exception>
    public static JsonObject Validate(JsonObject data, Core.Limits.LimitPolicy limits, TerminalOptions terminal, IReadOnlyCollection<string> profiles,
        Core.Egress.EgressPolicy ceiling)
    {
        ArgumentNullException.ThrowIfNull(data);
        var lifecycle = data.Select(p => p.Key).Where(k => LifecycleKeys.Contains(k, StringComparer.Ordinal)).ToList();
        if (lifecycle.Count > 0) throw new InvalidRequestException($"Lifecycle keys are not valid policy fields: {string.Join(", ", lifecycle)}", lifecycle[0]);
        if (Text(data, "image") is { } image && !profiles.Contains(image, StringComparer.Ordinal))
            throw new InvalidRequestException($"Image '{image}' not in allowed list: this server's profiles are {string.Join(", ", profiles)} " +
                "(terminal sandboxes run this server's tools; there are no container images to pull).", "image");
        if (Text(data, "storage_mode") is { } mode && !StorageModes.Contains(mode, StringComparer.Ordinal))
            throw new InvalidRequestException($"storage_mode must be one of {string.Join(", ", StorageModes)} (got '{mode}').", "storage_mode");
        CheckNetwork(data["network"], ceiling);
        var request = Parse(data);
        var clamped = limits.ClampTerminalPolicy(terminal, request);
        var stored = (JsonObject)data.DeepClone();
        if (clamped.Cpus != request.Cpus) stored["cpu_limit"] = clamped.Cpus!.Value.ToString(CultureInfo.InvariantCulture);
        if (clamped.MemoryMb != request.MemoryMb) stored["memory_limit"] = Mi(clamped.MemoryMb!.Value);
        if (clamped.StorageMb != request.StorageMb) stored["storage"] = Mi(clamped.StorageMb!.Value);
        if (clamped.IdleTimeoutSeconds != request.IdleTimeoutSeconds) stored["idle_timeout_minutes"] = clamped.IdleTimeoutSeconds!.Value / 60;
        return stored;
    }

    /// <summary>The limits a (validated) policy asks for.</summary>
    public static TerminalPolicyRequest Parse(JsonObject data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return new TerminalPolicyRequest
        {
            Cpus = Quantity(data, "cpu_limit", cpu: true) is { } cores ? (double)cores : null,
            MemoryMb = Quantity(data, "memory_limit", cpu: false) is { } memory ? Megabytes(memory, "memory_limit") : null,
            StorageMb = Quantity(data, "storage", cpu: false) is { } storage ? Megabytes(storage, "storage") : null,
            IdleTimeoutSeconds = Number(data, "idle_timeout_minutes") is { } minutes ? minutes * 60 : null,
            Environment = Environment(data["env"]),
            SharedHome = Text(data, "storage_mode") is "shared" or "shared-rwo",
            NetworkAllow = data["network"] is JsonObject { } network && network["allow"] is JsonArray { Count: > 0 } allow
                ? [.. allow.Select(a => a!.GetValue<string>())] : null,
        };
    }

    private static string Mi(int megabytes) => megabytes.ToString(CultureInfo.InvariantCulture) + "Mi";

    private static int Megabytes(decimal bytes, string field) =>
        bytes / (1 << 20) is var mb && mb <= int.MaxValue ? (int)Math.Ceiling(mb) : throw new InvalidRequestException($"{field} is too large.", field);

    private static string? Text(JsonObject data, string field) => data[field] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => throw new InvalidRequestException($"{field} must be a string.", field),
    };

    private static double? Number(JsonObject data, string field) => data[field] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<double>(out var d) && double.IsFinite(d) => d,
        _ => throw new InvalidRequestException($"{field} must be a number.", field),
    };

    /// <summary>A Kubernetes quantity, as the orchestrator's limits are written: cpu in cores ("2", "0.5", "500m"), memory
    /// and storage in bytes with a suffix ("4Gi", "512Mi", "1G", "1000M", "1073741824"); a bare JSON number too.</summary>
    private static decimal? Quantity(JsonObject data, string field, bool cpu)
    {
        var node = data[field];
        if (node is null) return null;
        string text = node is JsonValue v && v.GetValueKind() == JsonValueKind.Number ? v.ToJsonString() : Text(data, field)!.Trim();
        var match = QuantityPattern().Match(text);
        if (!match.Success || !decimal.TryParse(match.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            throw new InvalidRequestException($"{field} must be a quantity such as {(cpu ? "\"2\" or \"500m\"" : "\"4Gi\" or \"512Mi\"")} (got '{text}').", field);
        decimal factor = match.Groups[2].Value switch
        {
            "" => 1,
            "m" when cpu => 0.001m,
            "k" => 1e3m,
            "M" => 1e6m,
            "G" => 1e9m,
            "T" => 1e12m,
            "Ki" => 1024m,
            "Mi" => 1024m * 1024,
            "Gi" => 1024m * 1024 * 1024,
            "Ti" => 1024m * 1024 * 1024 * 1024,
            _ => throw new InvalidRequestException($"{field}: unknown unit '{match.Groups[2].Value}'.", field),
        };
        if (cpu && factor > 1) throw new InvalidRequestException($"{field} is in cores (\"2\") or millicores (\"500m\").", field);
        return number * factor is var value && value > 0 ? value : throw new InvalidRequestException($"{field} must be greater than 0.", field);
    }

    [GeneratedRegex("^([0-9]+(?:\\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")]
    private static partial Regex QuantityPattern();

    private static Dictionary<string, string> Environment(JsonNode? node)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        if (node is null) return env;
        if (node is not JsonObject map) throw new InvalidRequestException("env must be an object of names to strings.", "env");
        int bytes = 0;
        foreach (var (name, value) in map)
        {
            // Warden's own variables configure the agent inside the sandbox (quotas, limits): a policy cannot change them.
            if (!EnvNamePattern().IsMatch(name) || name.StartsWith("WARDEN_", StringComparison.Ordinal))
                throw new InvalidRequestException($"env: '{name}' is not an allowed variable name (letters, digits, _; not WARDEN_*).", "env");
            if (value is not JsonValue v || !v.TryGetValue<string>(out var text) || text.Contains('\0', StringComparison.Ordinal))
                throw new InvalidRequestException($"env: the value of '{name}' must be a string without NUL characters.", "env");
            bytes += name.Length + text.Length;
            env[name] = text;
        }
        if (env.Count > MaxEnvironment || bytes > MaxEnvironmentBytes)
            throw new InvalidRequestException($"env may have at most {MaxEnvironment} variables and {MaxEnvironmentBytes} bytes.", "env");
        return env;
    }

    /// <summary>
    /// <c>network</c>: <c>{"allow": [hosts]}</c>. Terminal sandboxes have no network on this server; until egress filtering
    /// exists a non-empty allow list would be a promise nothing keeps, so it is refused (an empty one is stored).
    /// </summary>
    /// <summary>The orchestrator's <c>network.allow</c>: host patterns, each within this server's egress ceiling
    /// (WARDEN_EGRESS_ALLOW), enforced by Warden's egress proxy for every sandbox of the policy.</summary>
    private static void CheckNetwork(JsonNode? node, Core.Egress.EgressPolicy ceiling)
    {
        if (node is null) return;
        if (node is not JsonObject network || network.Any(p => p.Key != "allow") || network["allow"] is not (null or JsonArray))
            throw new InvalidRequestException("network must be {\"allow\": [\"host\", ...]}.", "network");
        if (network["allow"] is JsonArray { Count: > 0 } allow)
        {
            if (allow.Any(a => a is not JsonValue h || !h.TryGetValue<string>(out _)))
                throw new InvalidRequestException("network.allow must be a list of host names.", "network.allow");
            // Throws naming network.allow[i] for a pattern outside the ceiling, or when this server has no egress at all.
            Core.Networking.EgressRequest.Resolve(ceiling, network: false, [.. allow.Select(a => a!.GetValue<string>())]);
        }
    }
}
