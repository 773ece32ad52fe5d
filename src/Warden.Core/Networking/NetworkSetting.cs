namespace Warden.Core.Networking;

/// <summary>
/// A server-side network default for long-lived sandboxes (<c>Warden:Jupyter:Network</c>, <c>Warden:Terminal:Network</c>):
/// <c>true</c> is the whole egress ceiling, <c>false</c> or empty none, anything else a comma list of patterns within
/// the ceiling. Read the same way as a request's <c>"network"</c> (<see cref="EgressRequest"/>).
/// </summary>
public sealed record NetworkSetting(bool Network, IReadOnlyList<string>? Allow)
{
    public static NetworkSetting None { get; } = new(false, null);

    public static NetworkSetting Parse(string? value)
    {
        var text = value?.Trim() ?? "";
        if (text.Length == 0 || text.Equals("false", StringComparison.OrdinalIgnoreCase)) return None;
        if (text.Equals("true", StringComparison.OrdinalIgnoreCase)) return new(true, null);
        var patterns = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return patterns.Length == 0 ? None : new(true, patterns);
    }

    /// <summary>
    /// Checks the setting against <paramref name="ceiling"/> as a request would be; the error names
    /// <paramref name="key"/> (a configuration key) so an operator sees which setting is wrong, or null when it fits.
    /// </summary>
    public string? Check(Egress.EgressPolicy ceiling, string key)
    {
        try
        {
            EgressRequest.Resolve(ceiling, Network, Allow);
            return null;
        }
        catch (Execution.InvalidRequestException e)
        {
            return $"{key}: {e.Message}";
        }
    }
}
