using Warden.Core.Execution;

namespace Warden.Server.Cluster;

/// <summary>
/// Something only the shared database can decide (a cluster-wide cap, a shared rate limit) could not be asked
/// (maps to 503 with Retry-After): refusing is honest, running unchecked would not be.
/// </summary>
public sealed class ClusterDatabaseUnavailableException(string message, Exception inner) : WardenException(message)
{
    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(5);

    public Exception Cause { get; } = inner;

    public override string Kind => "cluster-database-unavailable";
}
