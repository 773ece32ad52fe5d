namespace Warden.Core.Sessions;

/// <summary>
/// Where the sessions of every server sharing one deployment are recorded. A single server needs none (its
/// <see cref="SessionManager"/> knows all its sessions); replicas behind a balancer record each session under the replica
/// that holds it, so any replica can send a request for it to the right place, and so per-user caps count every replica.
/// </summary>
public interface ISessionRegistry
{
    /// <summary>An id for a new session; a registry shared by replicas may make it name the replica that holds it.</summary>
    string NewSessionId();

    /// <summary>Records that this server now holds <paramref name="sessionId"/> for <paramref name="userId"/>.</summary>
    /// <exception cref="Execution.CapacityExceededException">The user already holds <paramref name="maxPerUser"/> sessions across every server.</exception>
    ValueTask ClaimAsync(string sessionId, string userId, int maxPerUser, CancellationToken cancellationToken);

    /// <summary>The session is gone (deleted, reaped, or it failed to start). Never throws: the registry heals itself.</summary>
    ValueTask ReleaseAsync(string sessionId, CancellationToken cancellationToken);
}

/// <summary>One server on its own: the session manager's own caps are the whole truth, so there is nothing to record.</summary>
public sealed class LocalSessionRegistry : ISessionRegistry
{
    public string NewSessionId() => Guid.NewGuid().ToString();

    public ValueTask ClaimAsync(string sessionId, string userId, int maxPerUser, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask ReleaseAsync(string sessionId, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
