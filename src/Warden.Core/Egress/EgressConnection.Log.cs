using Microsoft.Extensions.Logging;
using Warden.Core.Diagnostics;

namespace Warden.Core.Egress;

internal sealed partial class EgressConnection
{
    private static partial class Log
    {
        [LoggerMessage(EventIds.EgressRefused, LogLevel.Debug, "Egress of run {RunId} refused: {Method} {Host}:{Port} ({Reason})")]
        public static partial void Refused(ILogger logger, string runId, string method, string host, int port, string reason);

        [LoggerMessage(EventIds.EgressConnectionFailed, LogLevel.Warning, "Egress connection of run {RunId} to {Host} failed unexpectedly")]
        public static partial void ConnectionFailed(ILogger logger, string runId, string host, Exception exception);

        [LoggerMessage(EventIds.EgressAuditFailed, LogLevel.Error, "Egress audit record of run {RunId} could not be written")]
        public static partial void AuditFailed(ILogger logger, string runId, Exception exception);
    }
}
