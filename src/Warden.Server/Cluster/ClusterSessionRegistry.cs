using System.Data.Common;
using Microsoft.Extensions.Logging;
using Warden.Core.Ownership;
using Warden.Core.Sessions;
using Warden.Server.Diagnostics;

namespace Warden.Server.Cluster;

/// <summary>Sessions in the shared directory: ids that name this replica, claims counted against the cluster-wide per-user and per-key caps.</summary>
internal sealed partial class ClusterSessionRegistry(ClusterDirectory directory, ILogger<ClusterSessionRegistry> logger) : ISessionRegistry
{
    public string NewSessionId() => OwnerTag.NewId(directory.Self.Tag);

    public async ValueTask ClaimAsync(string sessionId, Principal owner, SessionCaps caps, CancellationToken cancellationToken)
    {
        try { await directory.ClaimSessionAsync(sessionId, owner, caps, cancellationToken).ConfigureAwait(false); }
        catch (Exception e) when (e is DbException or IOException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            throw new ClusterDatabaseUnavailableException(
                "A new session must be recorded in the cluster's directory (and counted against the per-user cap), but the database did not answer. Retry shortly.", e);
        }
    }

    public async ValueTask ReleaseAsync(string sessionId, CancellationToken cancellationToken)
    {
        try { await directory.ReleaseAsync(ResourceKind.Session, sessionId, cancellationToken).ConfigureAwait(false); }
        catch (Exception e) when (e is DbException or IOException or TimeoutException or InvalidOperationException)
        {
            // The row is deleted by the membership's next sync with the live sessions; until then it only routes to a 404 here.
            Log.ReleaseFailed(logger, sessionId, e);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventIds.ClusterReleaseFailed, LogLevel.Warning, "Could not remove session {SessionId} from the cluster directory; the next sync will")]
        public static partial void ReleaseFailed(ILogger logger, string sessionId, Exception exception);
    }
}
