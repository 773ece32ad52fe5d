using Warden.Core.Ownership;

namespace Warden.Core.Sessions;

/// <summary>How many sessions one principal, and one tenant (API key) across all its users, may hold.</summary>
public sealed record SessionCaps(int PerUser, int PerKey);

/// <summary>
/// Where the sessions of every server sharing one deployment are recorded. A single server needs none (its
/// <see cref="SessionManager"/> knows all its sessions); replicas behind a balancer record each session under the replica
/// that holds it, so any replica can send a request for it to the right place, and so per-user caps count every replica.
/// </summary>
public interface ISessionRegistry
{
    /// <summary>An id for a new session; a registry shared by replicas may make it name the replica that holds it.</summary>
    string NewSessionId();

    /// <summary>Records that this server now holds <paramref name="sessionId"/> for <paramref name="owner"/>.</summary>
    /// <exception cref="Execution.CapacityExceededException">The owner, or its key, already holds as many sessions as
    /// <paramref name="caps"/> allow across every server.</exception>
    ValueTask ClaimAsync(string sessionId, Principal owner, SessionCaps caps, CancellationToken cancellationToken);

    /// <summary>The session is gone (deleted, reaped, or it failed to start). Never throws: the registry heals itself.</summary>
    ValueTask ReleaseAsync(string sessionId, CancellationToken cancellationToken);
}

/// <summary>One server on its own: the session manager's own caps are the whole truth, so there is nothing to record.</summary>
public sealed class LocalSessionRegistry : ISessionRegistry
{
    public string NewSessionId() => Guid.NewGuid().ToString();

    public ValueTask ClaimAsync(string sessionId, Principal owner, SessionCaps caps, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask ReleaseAsync(string sessionId, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
