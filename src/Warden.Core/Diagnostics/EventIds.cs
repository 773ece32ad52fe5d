namespace Warden.Core.Diagnostics;

/// <summary>Every log event id of Warden.Core, unique per assembly (attribute arguments must be constants).</summary>
internal static class EventIds
{
    public const int BackendStarted = 1001;
    public const int RunningDegraded = 1002;
    public const int ReapedStale = 1003;
    public const int SlotRecycleFailed = 1004;
    public const int DockerStarted = 1005;
    public const int DockerRefillFailed = 1006;
    public const int DockerRemoveFailed = 1007;
    public const int PoolStarted = 1008;
    public const int PoolRefillFailed = 1009;
    public const int PoolOnDemandFailed = 1010;
    public const int ReportedExitOutlived = 1011;
    public const int RetiredSetting = 1015;
    public const int BackendSelected = 1020;
    public const int SlotQuarantined = 1021;
    public const int StateModeSet = 1401;
    public const int SandboxCheckFailed = 1402;
    public const int SandboxCheckRecovered = 1403;
    public const int ExecutionFinished = 1101;
    public const int ExecutionRejected = 1102;
    public const int SandboxFailed = 1103;
    public const int SessionCreated = 1201;
    public const int SessionDeleted = 1202;
    public const int SessionReaped = 1203;
    public const int WarmKernelFailed = 1210;
    public const int CellFinished = 1204;
    public const int KernelKilled = 1205;
    public const int TerminalStarted = 1301;
    public const int TerminalLost = 1302;
    public const int TerminalReaped = 1303;
    public const int TerminalStoppedByAdmin = 1321;
    public const int HomeMounted = 1401;
    public const int HomeUnmounted = 1402;
    public const int HomeMountFailed = 1403;
    public const int HomeUnmountBusy = 1404;
    public const int HomeStorageUnavailable = 1405;
    public const int HomeStorageFallback = 1406;
    public const int HomesRecovered = 1407;
    public const int HomeLoopInUse = 1408;
    public const int HomeImageInUse = 1409;
    public const int HomeMigrated = 1410;
    public const int HomeMigrationIncomplete = 1411;
    public const int HomeRebuilt = 1412;
    public const int HomeRebuildRefused = 1413;
    public const int HomeChecked = 1414;
    public const int HomeSmokeTestFailed = 1415;
    public const int MemoryBudgetRefused = 1501;
    public const int EgressRefused = 1601;
    public const int EgressConnectionFailed = 1602;
    public const int EgressAuditFailed = 1603;
    public const int NetworkAliased = 1650;
}
