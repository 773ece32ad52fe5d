using System.Reflection;

namespace Warden.Server.Hosting;

public static class WardenVersion
{
    public static readonly string Current =
        typeof(WardenVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    public static readonly DateTimeOffset StartedAt = DateTimeOffset.UtcNow;
}
