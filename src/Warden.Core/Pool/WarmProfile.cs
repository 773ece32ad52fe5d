using Warden.Core.Limits;

namespace Warden.Core.Pool;

/// <summary>
/// The limits fixed when a warm sandbox starts, before its request exists: bwrap's /tmp size and network namespace,
/// and the rlimits the helper sets before it execs bwrap (the CPU time is the only one a request chooses). Memory,
/// processes, CPU bandwidth, wall clock and output caps are set at go time, so any request's apply to a warm run.
/// </summary>
/// <remarks>
/// RLIMIT_CPU cannot be lowered from outside here: prlimit on another uid's process needs CAP_SYS_RESOURCE, which
/// root lacks on this host, so a request with its own CPU time runs cold. Because RLIMIT_CPU counts a process's whole
/// life, the idle stub's interpreter start-up counts against it exactly as the cold run's start-up does.
/// </remarks>
internal static class WarmProfile
{
    public static bool Fits(ResourceLimits warm, ResourceLimits request) =>
        request.TmpBytes == warm.TmpBytes && request.Network == warm.Network
        && CpuSeconds(request) == CpuSeconds(warm) && request.MaxFileBytes == warm.MaxFileBytes && request.MaxOpenFiles == warm.MaxOpenFiles;

    /// <summary>RLIMIT_CPU is whole seconds (see SandboxSpecBuilder.Rlimits): requests that round the same share a profile.</summary>
    private static long CpuSeconds(ResourceLimits limits) => Math.Max(1, (long)Math.Ceiling(limits.CpuTime.TotalSeconds));
}
