using Microsoft.Extensions.Options;
using Warden.Core.Execution;
using Warden.Core.Limits;

namespace Warden.Core.Tests.Limits;

public sealed class LimitPolicyTests
{
    private static LimitPolicy Policy(Action<LimitsOptions>? configure = null)
    {
        var options = new LimitsOptions();
        configure?.Invoke(options);
        return new LimitPolicy(Options.Create(options));
    }

    [Fact]
    public void Resolve_NullRequest_UsesDefaults()
    {
        var limits = Policy().Resolve(null);

        Assert.Equal(TimeSpan.FromSeconds(10), limits.WallTime);
        Assert.Equal(256L << 20, limits.MemoryBytes);
        Assert.Equal(64, limits.MaxProcesses);
        Assert.Equal(1L << 20, limits.MaxOutputBytes);
        Assert.False(limits.Network);
    }

    [Fact]
    public void Resolve_ValuesWithinCeiling_UsesRequestedValues()
    {
        var limits = Policy().Resolve(new LimitRequest
        {
            TimeoutSeconds = 5, CpuTimeSeconds = 2, MemoryMb = 512, MaxProcesses = 10, MaxOutputBytes = 4096,
        });

        Assert.Equal(TimeSpan.FromSeconds(5), limits.WallTime);
        Assert.Equal(TimeSpan.FromSeconds(2), limits.CpuTime);
        Assert.Equal(512L << 20, limits.MemoryBytes);
        Assert.Equal(10, limits.MaxProcesses);
        Assert.Equal(4096, limits.MaxOutputBytes);
    }

    [Fact]
    public void Resolve_ValueEqualToCeiling_IsAccepted()
    {
        var limits = Policy().Resolve(new LimitRequest { MemoryMb = 2048 });

        Assert.Equal(2048L << 20, limits.MemoryBytes);
    }

    [Theory]
    [InlineData("timeout")]
    [InlineData("cpu_time")]
    [InlineData("memory_mb")]
    [InlineData("max_processes")]
    [InlineData("max_output_bytes")]
    public void Resolve_AboveCeiling_ThrowsNamingTheLimit(string limit)
    {
        var request = limit switch
        {
            "timeout" => new LimitRequest { TimeoutSeconds = 61 },
            "cpu_time" => new LimitRequest { CpuTimeSeconds = 61 },
            "memory_mb" => new LimitRequest { MemoryMb = 2049 },
            "max_processes" => new LimitRequest { MaxProcesses = 513 },
            _ => new LimitRequest { MaxOutputBytes = (16 << 20) + 1 },
        };

        var e = Assert.Throws<LimitAboveCeilingException>(() => Policy().Resolve(request));

        Assert.Equal(limit, e.Limit);
        Assert.Contains(limit, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    public void Resolve_TimeoutNotPositive_ThrowsInvalidRequest(double timeout)
    {
        var e = Assert.Throws<InvalidRequestException>(() => Policy().Resolve(new LimitRequest { TimeoutSeconds = timeout }));

        Assert.Equal("timeout", e.Parameter);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void Resolve_MemoryNotPositive_ThrowsInvalidRequest(int memory)
    {
        var e = Assert.Throws<InvalidRequestException>(() => Policy().Resolve(new LimitRequest { MemoryMb = memory }));

        Assert.Equal("memory_mb", e.Parameter);
    }

    [Fact]
    public void Resolve_CpuTimeNaN_ThrowsInvalidRequest()
    {
        var e = Assert.Throws<InvalidRequestException>(() => Policy().Resolve(new LimitRequest { CpuTimeSeconds = double.NaN }));

        Assert.Equal("cpu_time", e.Parameter);
    }

    [Fact]
    public void Resolve_NetworkRequestedButNotAllowed_ThrowsInvalidRequest()
    {
        var e = Assert.Throws<InvalidRequestException>(() => Policy().Resolve(null, network: true));

        Assert.Equal("network", e.Parameter);
    }

    [Fact]
    public void Resolve_NetworkRequestedAndAllowed_GrantsNetwork()
    {
        var limits = Policy(o => o.AllowNetwork = true).Resolve(null, network: true);

        Assert.True(limits.Network);
    }

    [Fact]
    public void Resolve_NoCpuTimeDefault_CpuFollowsRequestedTimeout()
    {
        // Default CpuTimeSeconds = 0 means "same as the wall timeout", so a longer run is not cut short by CPU time.
        var limits = Policy().Resolve(new LimitRequest { TimeoutSeconds = 30 });

        Assert.Equal(TimeSpan.FromSeconds(30), limits.CpuTime);
    }

    [Fact]
    public void Resolve_NoCpuTimeDefaultAndTimeoutAboveCpuCeiling_CpuCappedAtCeiling()
    {
        var limits = Policy(o => { o.Ceiling.TimeoutSeconds = 120; o.Ceiling.CpuTimeSeconds = 20; })
            .Resolve(new LimitRequest { TimeoutSeconds = 100 });

        Assert.Equal(TimeSpan.FromSeconds(20), limits.CpuTime);
    }

    [Fact]
    public void Resolve_ExplicitCpuDefault_IgnoresTimeout()
    {
        var limits = Policy(o => o.Default.CpuTimeSeconds = 3).Resolve(new LimitRequest { TimeoutSeconds = 30 });

        Assert.Equal(TimeSpan.FromSeconds(3), limits.CpuTime);
    }

    [Fact]
    public void Resolve_HostWideSettings_CopiedIntoLimits()
    {
        var limits = Policy(o => { o.Cpus = 0.5; o.MaxFileSizeMb = 8; o.MaxOpenFiles = 100; o.TmpMb = 16; o.WorkspaceMb = 32; })
            .Resolve(null);

        Assert.Equal(0.5, limits.Cpus);
        Assert.Equal(8L << 20, limits.MaxFileBytes);
        Assert.Equal(100, limits.MaxOpenFiles);
        Assert.Equal(16L << 20, limits.TmpBytes);
        Assert.Equal(32L << 20, limits.WorkspaceBytes);
    }

    [Fact]
    public void ResolveCompile_Always_UsesCompileSectionWithoutNetwork()
    {
        var limits = Policy(o => o.AllowNetwork = true).ResolveCompile();

        Assert.Equal(TimeSpan.FromSeconds(30), limits.WallTime);
        Assert.Equal(1024L << 20, limits.MemoryBytes);
        Assert.Equal(128, limits.MaxProcesses);
        Assert.False(limits.Network);
    }
}
