using Warden.Core.Sandboxing.Slots;

namespace Warden.Core.Tests.Sandboxing;

public sealed class WardenInstanceTests
{
    private static string OurNamespace => WardenInstance.NewName().Split('-')[3];

    // pid_max is at most 4194304: this pid cannot exist.
    private const int DeadPid = 99_999_999;

    [Fact]
    public void IsAlive_OurOwnName_True() => Assert.True(WardenInstance.IsAlive(WardenInstance.NewName()));

    [Fact]
    public void IsAlive_DeadPidInOurNamespace_False() => Assert.False(WardenInstance.IsAlive($"{DeadPid}-12345-1-{OurNamespace}"));

    [Fact]
    public void IsAlive_ReusedPidWithOtherStartTime_False() => Assert.False(WardenInstance.IsAlive($"1-999999999999-1-{OurNamespace}"));

    [Fact]
    public void IsAlive_OtherPidNamespace_LeftAlone() => Assert.True(WardenInstance.IsAlive($"{DeadPid}-12345-1-1"));

    [Theory]
    [InlineData("not-an-instance")]
    [InlineData("abc-1-2-3")]
    public void IsAlive_ForeignNames_LeftAlone(string name) => Assert.True(WardenInstance.IsAlive(name));
}
