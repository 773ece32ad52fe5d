using Microsoft.Extensions.Logging.Abstractions;
using Warden.Core.Sandboxing.Slots;

namespace Warden.Core.Tests.Sandboxing;

public sealed class SlotRecyclerTests
{
    private static readonly RecyclePolicy Quick = new(3, TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(5));

    [Fact]
    public async Task Recycle_FailsEveryTry_QuarantinesAfterTheLastTryOnly()
    {
        await using var recycler = new SlotRecycler(Quick, NullLogger.Instance);
        int tries = 0, quarantined = 0;

        await recycler.Recycle("slot-0", _ => { tries++; throw new IOException("mount: busy"); }, () => quarantined++)
            .WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal(3, tries);
        Assert.Equal(1, quarantined);
        Assert.Equal(1, recycler.Quarantined);
        Assert.Equal(3, recycler.Failures);
        Assert.Equal(0, recycler.Running);
    }

    [Fact]
    public async Task Recycle_SucceedsOnALaterTry_NotQuarantined()
    {
        await using var recycler = new SlotRecycler(Quick, NullLogger.Instance);
        int tries = 0, quarantined = 0;

        await recycler.Recycle("slot-0", _ => ++tries < 3 ? throw new InvalidOperationException("helper died") : Task.CompletedTask, () => quarantined++)
            .WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal(3, tries);
        Assert.Equal(0, quarantined);
        Assert.Equal(0, recycler.Quarantined);
        Assert.Equal(2, recycler.Failures);
    }

    [Fact]
    public async Task Recycle_TryThatHangs_TimesOutAndCountsAsAFailure()
    {
        await using var recycler = new SlotRecycler(new RecyclePolicy(2, TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(100)), NullLogger.Instance);
        int quarantined = 0;

        // A cgroup that never empties: the kill loop waits on the try's token.
        await recycler.Recycle("slot-0", token => Task.Delay(Timeout.Infinite, token), () => quarantined++)
            .WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal(1, quarantined);
        Assert.Equal(2, recycler.Failures);
    }

    [Fact]
    public async Task DisposeAsync_DuringBackoff_StopsWithoutQuarantine()
    {
        var recycler = new SlotRecycler(new RecyclePolicy(3, TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(5)), NullLogger.Instance);
        int quarantined = 0;
        var tried = new TaskCompletionSource();
        var recycle = recycler.Recycle("slot-0", _ => { tried.TrySetResult(); throw new IOException("busy"); }, () => quarantined++);
        await tried.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        await recycler.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.True(recycle.IsCompletedSuccessfully);
        Assert.Equal(0, quarantined);
    }

    [Fact]
    public void Backoff_GrowsFourfold() =>
        Assert.Equal([200, 800, 3200], new[] { 1, 2, 3 }.Select(n => RecyclePolicy.Default.Backoff(n).TotalMilliseconds));
}
