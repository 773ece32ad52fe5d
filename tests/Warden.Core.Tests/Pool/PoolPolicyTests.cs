using Warden.Core.Pool;

namespace Warden.Core.Tests.Pool;

public sealed class PoolPolicyTests
{
    private static readonly string[] Warmable = ["python", "javascript", "bash"];

    private sealed class ManualTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    /// <summary>The split tests hold the adaptive size at its ceiling (MinSize = Size); the sizing tests below move it.</summary>
    private static (PoolPolicy Policy, ManualTime Time) Create(PoolOptions? options = null)
    {
        var time = new ManualTime();
        options ??= new PoolOptions();
        if (options.MinSize == new PoolOptions().MinSize) options.MinSize = options.Size;
        return (new PoolPolicy(options, Warmable, time), time);
    }

    [Fact]
    public void Targets_NoDemand_ConfiguredSplit()
    {
        var (policy, _) = Create();

        var targets = policy.Targets();

        Assert.Equal(4, targets["python"]);
        Assert.Equal(2, targets["javascript"]);
        Assert.Equal(2, targets["bash"]);
    }

    [Fact]
    public void Targets_ConfiguredAboveSize_ScaledDownToSize()
    {
        var (policy, _) = Create(new PoolOptions { Size = 4 });

        var targets = policy.Targets();

        Assert.Equal(4, targets.Values.Sum());
        Assert.Equal(2, targets["python"]);
    }

    [Fact]
    public void Targets_OnlyPythonDemand_ShiftsAllButFloorsToPython()
    {
        var (policy, _) = Create();
        for (int i = 0; i < 20; i++) policy.RecordDemand("python");

        var targets = policy.Targets();

        Assert.Equal(6, targets["python"]);
        Assert.Equal(1, targets["javascript"]);
        Assert.Equal(1, targets["bash"]);
    }

    [Fact]
    public void Targets_MixedDemand_SplitByShareAboveFloors()
    {
        var (policy, _) = Create(new PoolOptions { Size = 11, MinPerLanguage = 1 });
        for (int i = 0; i < 6; i++) policy.RecordDemand("javascript");
        for (int i = 0; i < 2; i++) policy.RecordDemand("bash");

        var targets = policy.Targets();

        Assert.Equal(11, targets.Values.Sum());
        Assert.Equal(1 + 6, targets["javascript"]);
        Assert.Equal(1 + 2, targets["bash"]);
        Assert.Equal(1, targets["python"]);
    }

    [Fact]
    public void Targets_DemandOlderThanWindow_Forgotten()
    {
        var (policy, time) = Create(new PoolOptions { DemandWindowSeconds = 60 });
        for (int i = 0; i < 20; i++) policy.RecordDemand("bash");
        time.Now += TimeSpan.FromSeconds(61);

        var targets = policy.Targets();

        Assert.Equal(4, targets["python"]);
        Assert.Equal(2, targets["bash"]);
    }

    [Fact]
    public void Targets_NotAdaptive_IgnoresDemand()
    {
        var (policy, _) = Create(new PoolOptions { Adaptive = false });
        for (int i = 0; i < 20; i++) policy.RecordDemand("bash");

        Assert.Equal(4, policy.Targets()["python"]);
    }

    [Fact]
    public void RecordDemand_LanguageWithoutStub_NotCounted()
    {
        var (policy, _) = Create();
        for (int i = 0; i < 20; i++) policy.RecordDemand("c");

        var targets = policy.Targets();

        Assert.False(targets.ContainsKey("c"));
        Assert.Equal(4, targets["python"]);
    }

    [Fact]
    public void Targets_LanguageNotInstalled_GetsNothing()
    {
        var time = new ManualTime();
        var policy = new PoolPolicy(new PoolOptions { MinSize = 8 }, ["python"], time);

        var targets = policy.Targets();

        Assert.Equal(["python"], targets.Keys);
    }

    [Theory]
    [InlineData(0, 0, 0)]
    [InlineData(1, 1, 0)]
    [InlineData(3, 2, 1)]
    [InlineData(10, 7, 3)]
    public void Split_LargestRemainder_AddsUpToTotal(int total, int python, int bash)
    {
        var split = PoolPolicy.Split(total, new Dictionary<string, double> { ["python"] = 2.1, ["bash"] = 0.9 });

        Assert.Equal(python, split["python"]);
        Assert.Equal(bash, split["bash"]);
    }

    [Fact]
    public void Size_Adaptive_StartsAtFloorOneOfEachLanguage()
    {
        var policy = new PoolPolicy(new PoolOptions(), Warmable, new ManualTime());

        Assert.Equal(3, policy.Size);
        Assert.Equal(new Dictionary<string, int> { ["python"] = 1, ["javascript"] = 1, ["bash"] = 1 }, policy.Targets());
    }

    [Fact]
    public void Size_EmptyMisses_GrowToCeilingAndDemandGetsTheGrowth()
    {
        var policy = new PoolPolicy(new PoolOptions(), Warmable, new ManualTime());
        for (int i = 0; i < 20; i++)
        {
            policy.RecordDemand("python");
            policy.RecordEmpty();
        }

        Assert.Equal(8, policy.Size);
        var targets = policy.Targets();
        Assert.Equal(6, targets["python"]);
        Assert.Equal(1, targets["javascript"]);
    }

    [Fact]
    public void Size_QuietPeriods_ShrinkOneEachBackToFloor()
    {
        var time = new ManualTime();
        var policy = new PoolPolicy(new PoolOptions { ShrinkAfterSeconds = 30 }, Warmable, time);
        for (int i = 0; i < 5; i++) policy.RecordEmpty();
        Assert.Equal(8, policy.Size);

        time.Now += TimeSpan.FromSeconds(29);
        Assert.Equal(8, policy.Size);
        time.Now += TimeSpan.FromSeconds(1);
        Assert.Equal(7, policy.Size);
        time.Now += TimeSpan.FromSeconds(65);
        Assert.Equal(5, policy.Size);
        time.Now += TimeSpan.FromHours(1);
        Assert.Equal(3, policy.Size);
    }

    [Fact]
    public void Size_EmptyMissRestartsTheQuietClock()
    {
        var time = new ManualTime();
        var policy = new PoolPolicy(new PoolOptions { ShrinkAfterSeconds = 30 }, Warmable, time);
        policy.RecordEmpty();
        time.Now += TimeSpan.FromSeconds(20);
        policy.RecordEmpty();
        time.Now += TimeSpan.FromSeconds(20);

        Assert.Equal(5, policy.Size);
    }

    [Fact]
    public void Size_NotAdaptive_FixedAtSize()
    {
        var policy = new PoolPolicy(new PoolOptions { Adaptive = false }, Warmable, new ManualTime());
        policy.RecordEmpty();

        Assert.Equal(8, policy.Size);
        Assert.Equal(4, policy.Targets()["python"]);
    }

    [Fact]
    public void Size_FloorAboveCeiling_CappedAtCeiling()
    {
        var policy = new PoolPolicy(new PoolOptions { Size = 1, MinSize = 3 }, Warmable, new ManualTime());
        policy.RecordEmpty();

        Assert.Equal(1, policy.Size);
    }

    [Fact]
    public void Enabled_ByDefault()
    {
        Assert.True(new PoolOptions().Enabled);
    }
}
