using Warden.Core.Limits;

namespace Warden.Core.Tests;

/// <summary>Effective limits for tests that need a <see cref="ResourceLimits"/> without going through a policy.</summary>
internal static class TestLimits
{
    public static ResourceLimits Create(double cpuSeconds = 10, bool network = false) => new()
    {
        WallTime = TimeSpan.FromSeconds(10),
        CpuTime = TimeSpan.FromSeconds(cpuSeconds),
        MemoryBytes = 256L << 20,
        MaxProcesses = 64,
        MaxOutputBytes = 1 << 20,
        Cpus = 1,
        MaxFileBytes = 64L << 20,
        MaxOpenFiles = 256,
        TmpBytes = 64L << 20,
        WorkspaceBytes = 64L << 20,
        Network = network,
    };
}
