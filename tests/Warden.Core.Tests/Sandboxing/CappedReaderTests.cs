using System.Text;
using Warden.Core.Processes;
using Warden.Core.Sandboxing;

namespace Warden.Core.Tests.Sandboxing;

/// <summary>
/// Draining a real pipe whose writer stays open, as runsc keeps the output pipes open after a warm gVisor sandbox's
/// program reported its exit: finishing takes exactly what is in the pipe, without waiting for an end that comes later.
/// </summary>
public sealed class CappedReaderTests
{
    [Fact]
    public async Task Drain_FinishedBeforeTheFirstRead_TakesEverythingBufferedWithoutTheEnd()
    {
        using var pipe = new Pipe();
        var reader = pipe.TakeReader();
        await using var writer = pipe.TakeWriter();
        var data = Encoding.ASCII.GetBytes(new string('x', 60_000) + "end");
        await writer.WriteAsync(data, TestContext.Current.CancellationToken);
        await writer.FlushAsync(TestContext.Current.CancellationToken);
        var capped = new CappedReader(1 << 20, () => { });

        await capped.DrainAsync(reader, new CancellationToken(canceled: true)).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal(data, capped.ToArray());
    }

    [Fact]
    public async Task Drain_FinishedWhileWaitingForData_StopsWithWhatCameBefore()
    {
        using var pipe = new Pipe();
        var reader = pipe.TakeReader();
        await using var writer = pipe.TakeWriter();
        var capped = new CappedReader(1 << 20, () => { });
        using var finish = new CancellationTokenSource();
        var drain = capped.DrainAsync(reader, finish.Token);
        await writer.WriteAsync("before"u8.ToArray(), TestContext.Current.CancellationToken);
        await writer.FlushAsync(TestContext.Current.CancellationToken);
        for (var deadline = DateTime.UtcNow.AddSeconds(10); capped.ToArray().Length < 6 && DateTime.UtcNow < deadline;)
            await Task.Delay(10, TestContext.Current.CancellationToken);

        await finish.CancelAsync();
        await drain.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal("before", Encoding.ASCII.GetString(capped.ToArray()));
    }

    [Fact]
    public async Task Drain_WriterCloses_ReadsToTheEndWithoutFinish()
    {
        using var pipe = new Pipe();
        var reader = pipe.TakeReader();
        var writer = pipe.TakeWriter();
        var capped = new CappedReader(1 << 20, () => { });
        var drain = capped.DrainAsync(reader, CancellationToken.None);
        await writer.WriteAsync(new byte[200_000], TestContext.Current.CancellationToken);
        await writer.DisposeAsync();

        await drain.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

        Assert.Equal(200_000, capped.ToArray().Length);
    }
}
