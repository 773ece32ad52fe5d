namespace Warden.Server.Diagnostics;

/// <summary>Every log event id of Warden.Server, unique per assembly (attribute arguments must be constants).</summary>
internal static class EventIds
{
    public const int Unhandled = 2001;
    public const int DatabaseUnavailable = 2002;
    public const int HistoryBatchRetry = 2101;
    public const int HistoryBatchLost = 2102;
    public const int HistoryRetention = 2103;
    public const int HistoryRetentionFailed = 2104;
    public const int HistoryDrainTimedOut = 2105;
    public const int HistoryRecordAfterShutdown = 2106;
    public const int ShutdownGraceExpired = 2201;
    public const int ShutdownDraining = 2202;
    public const int KeyCreated = 2301;
    public const int KeyRevoked = 2302;
    public const int ClusterJoined = 2401;
    public const int ClusterHeartbeatFailed = 2402;
    public const int ClusterReplicaDeclaredDead = 2403;
    public const int ClusterRejoined = 2404;
    public const int ClusterLeft = 2405;
    public const int ClusterIdTaken = 2406;
    public const int ClusterForwardFailed = 2407;
    public const int ClusterReleaseFailed = 2408;
    public const int ClusterWaitingForId = 2409;
    public const int ClusterLeaveFailed = 2410;
    public const int ClusterRelayFailed = 2411;
    public const int ClusterDatabaseWait = 2412;
    public const int InteractiveTerminalAttached = 2851;
    public const int InteractiveTerminalDetached = 2852;
    public const int LocalRunListening = 2501;
    public const int LocalRunRefusedPeer = 2502;
    public const int LocalRunFailed = 2503;
    public const int LocalRunNotListening = 2504;
    public const int EgressAuditWriteFailed = 2601;
    public const int EgressAuditAfterShutdown = 2602;
    public const int EgressAuditDrainTimedOut = 2603;
    public const int ClusterHomeLeaseTaken = 2451;
}
