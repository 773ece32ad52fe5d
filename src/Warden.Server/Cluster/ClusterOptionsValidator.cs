using Microsoft.Extensions.Options;

namespace Warden.Server.Cluster;

/// <summary>Rules across fields: a replica must miss a few heartbeats before it is declared dead.</summary>
internal sealed class ClusterOptionsValidator : IValidateOptions<ClusterOptions>
{
    public ValidateOptionsResult Validate(string? name, ClusterOptions options)
    {
        if (options.DeadAfterSeconds < 2 * options.HeartbeatSeconds)
            return ValidateOptionsResult.Fail(
                $"Warden:Cluster:DeadAfterSeconds (WARDEN_CLUSTER_DEAD_AFTER) must be at least twice Warden:Cluster:HeartbeatSeconds " +
                $"(got {options.DeadAfterSeconds} and {options.HeartbeatSeconds}): one late heartbeat must not declare a replica dead.");
        return ValidateOptionsResult.Success;
    }
}
