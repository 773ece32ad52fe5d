namespace Warden.Core.Sandboxing;

/// <summary>
/// Why a run was killed, decided in one place for every backend. Evidence ranks: the output cap and the CPU watchdog
/// fire the same kill token as the wall clock and the caller, so they win over both; a timeout is reported only when
/// our wall clock fired and the caller had not cancelled.
/// </summary>
internal readonly record struct KillCause(bool WallTimeExceeded, bool CpuTimeExceeded, bool OutputLimitExceeded, bool Cancelled)
{
    public static KillCause Decide(bool killed, bool wallFired, bool callerCancelled, bool outputHit, bool cpuHit) => new(
        WallTimeExceeded: killed && wallFired && !outputHit && !cpuHit && !callerCancelled,
        CpuTimeExceeded: cpuHit,
        OutputLimitExceeded: outputHit,
        Cancelled: killed && callerCancelled && !outputHit && !cpuHit);
}
