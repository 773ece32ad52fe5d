using Warden.Core.Limits;

namespace Warden.Sessions.Tests;

/// <summary>Limits for a session sandbox a test starts itself (no SessionManager): generous, so only the attack is bounded.</summary>
internal static class SandboxLimits
{
    public static ResourceLimits Generous() => new()
    {
        WallTime = TimeSpan.FromMinutes(5),
        CpuTime = TimeSpan.FromMinutes(5),
        MemoryBytes = 256L << 20,
        MaxProcesses = 64,
        MaxOutputBytes = 1 << 20,
        Cpus = 1,
        MaxFileBytes = 16L << 20,
        MaxOpenFiles = 256,
        TmpBytes = 16L << 20,
        WorkspaceBytes = 16L << 20,
        Network = false,
    };
}
