namespace Warden.Server.Diagnostics;

/// <summary>Every log event id of Warden.Server, unique per assembly (attribute arguments must be constants).</summary>
internal static class EventIds
{
    public const int Unhandled = 2001;
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
}
