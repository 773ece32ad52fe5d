using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Warden.Core.Configuration;

namespace Warden.Core.Hosting;

/// <summary>Says once at start-up that the old host-network switch now means the egress ceiling <c>*</c>, and what changed.</summary>
public sealed partial class NetworkAliasWarning(ILogger<NetworkAliasWarning> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        Log.Aliased(logger, NetworkAlias.Changed);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.NetworkAliased, LogLevel.Warning,
            "WARDEN_ALLOW_NETWORK=true (or NETWORK_MODE=bridge|host) is read as WARDEN_EGRESS_ALLOW=*. {Changed}")]
        public static partial void Aliased(ILogger logger, string changed);
    }
}
