using Microsoft.Extensions.Configuration;

namespace Warden.Core.Configuration;

/// <summary>A setting Warden no longer has: its key, its flat environment variable, and what happens instead.</summary>
public sealed record RetiredSetting(string Key, string EnvironmentVariable, string Instead);

/// <summary>
/// Settings that were removed. An old deployment may still set one; it is ignored, because each removal leaves the
/// service at least as strict as before, and it is named in a warning at start-up (<see cref="Hosting.RetiredSettingsWarning"/>)
/// so that the change of behaviour is not silent. Refusing to start would turn a leftover line into an outage.
/// </summary>
public static class RetiredSettings
{
    public static readonly IReadOnlyList<RetiredSetting> All =
    [
        new("Warden:Pool:Zygote", "WARDEN_POOL_ZYGOTE",
            "the python zygote was removed (it ran Python as root on the host); python warm sandboxes start their own bwrap and interpreter, as they did by default. Remove the setting."),
        new("Warden:Docker:User", "WARDEN_DOCKER__USER",
            "every docker container (execution or session) runs under a host uid of its own, leased from Warden:SandboxUidBase/SandboxUidCount " +
            "as on bwrap and gVisor, so no two share the kernel's per-uid budgets (inotify instances, pipe buffers). Remove the setting."),
    ];

    /// <summary>The retired setting whose flat environment variable is <paramref name="variable"/>, or null.</summary>
    public static RetiredSetting? ByEnvironmentVariable(string variable) =>
        All.FirstOrDefault(s => string.Equals(s.EnvironmentVariable, variable, StringComparison.OrdinalIgnoreCase));

    /// <summary>The retired settings <paramref name="configuration"/> sets (from a file, a variable or an override), with their values.</summary>
    public static IReadOnlyList<(RetiredSetting Setting, string Value)> In(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var found = new List<(RetiredSetting, string)>();
        foreach (var setting in All)
        {
            if (configuration[setting.Key] is { } value) found.Add((setting, value));
        }
        return found;
    }
}
