using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Warden.Core.Configuration;

namespace Warden.Core.Hosting;

/// <summary>
/// Names, once at start-up, each retired setting the configuration still sets (<see cref="RetiredSettings"/>): the
/// setting is ignored, and the operator reads why and what happens instead.
/// </summary>
public sealed partial class RetiredSettingsWarning(IReadOnlyList<(RetiredSetting Setting, string Value)> found, ILogger<RetiredSettingsWarning> logger)
    : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var (setting, value) in found) Log.Retired(logger, setting.Key, setting.EnvironmentVariable, value, setting.Instead);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.RetiredSetting, LogLevel.Warning,
            "{Key} ({Variable}) is set to '{Value}' but no longer exists and is ignored: {Instead}")]
        public static partial void Retired(ILogger logger, string key, string variable, string value, string instead);
    }
}
