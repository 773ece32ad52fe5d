using Warden.Core.Sandboxing;

namespace Warden.Core.Tests.Sandboxing;

public sealed class KillCauseTests
{
    [Fact]
    public void Decide_OnlyOurClock_IsATimeout()
    {
        var cause = KillCause.Decide(killed: true, wallFired: true, callerCancelled: false, outputHit: false, cpuHit: false);
        Assert.Equal(new KillCause(true, false, false, false), cause);
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void Decide_OutputCapOrCpuWatchdog_OutranksTheClock(bool outputHit, bool cpuHit)
    {
        var cause = KillCause.Decide(killed: true, wallFired: true, callerCancelled: false, outputHit, cpuHit);
        Assert.False(cause.WallTimeExceeded);
        Assert.Equal(outputHit, cause.OutputLimitExceeded);
        Assert.Equal(cpuHit, cause.CpuTimeExceeded);
    }

    [Fact]
    public void Decide_CallerCancelled_IsNotATimeoutEvenIfTheClockAlsoFired()
    {
        var cause = KillCause.Decide(killed: true, wallFired: true, callerCancelled: true, outputHit: false, cpuHit: false);
        Assert.False(cause.WallTimeExceeded);
        Assert.True(cause.Cancelled);
    }

    [Fact]
    public void Decide_NotKilled_NothingToAttribute()
    {
        Assert.Equal(default, KillCause.Decide(killed: false, wallFired: false, callerCancelled: false, outputHit: false, cpuHit: false));
    }
}
