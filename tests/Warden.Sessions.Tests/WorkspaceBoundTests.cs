using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Core.Sessions;

namespace Warden.Sessions.Tests;

/// <summary>A session's workspace is a tmpfs bounded in size and in files: a cell writing past either fails at once.</summary>
public sealed class WorkspaceBoundTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task CellWritingPastTheWorkspace_GetsEnospc_BytesAndFiles_AndTheKernelLives()
    {
        await using var host = await SessionHost.StartAsync(new() { ["Warden:Limits:WorkspaceMb"] = "8" });
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(new SessionRequest("python", Owners.User("alice")), ct).WaitAsync(Wait, ct);

        var bytes = await session.ExecuteAsync(new CellRequest("""
            import os
            written = 0
            try:
                with open('/sandbox/big', 'wb', buffering=0) as f:
                    while written < 64 << 20:
                        written += f.write(b'x' * (1 << 20))
            except OSError as e:
                print('errno', e.errno, 'written', written)
            os.remove('/sandbox/big')
            """), null, ct).WaitAsync(Wait, ct);
        var files = await session.ExecuteAsync(new CellRequest("""
            import os
            os.mkdir('/sandbox/many')
            n = 0
            try:
                while n < 100000:
                    open('/sandbox/many/%d' % n, 'w').close()
                    n += 1
            except OSError as e:
                print('errno', e.errno, 'created', n)
            """), null, ct).WaitAsync(Wait, ct);

        var written = Stdout(bytes).Split(' ');
        Assert.Equal(ExecutionStatus.Success, bytes.Status);
        Assert.Equal("28", written[1]);
        Assert.InRange(long.Parse(written[3], System.Globalization.CultureInfo.InvariantCulture), 1, 8L << 20);
        var created = Stdout(files).Split(' ');
        Assert.Equal("28", created[1]);
        Assert.InRange(long.Parse(created[3], System.Globalization.CultureInfo.InvariantCulture), ResourceLimits.InodesFor(8L << 20) - 64, ResourceLimits.InodesFor(8L << 20));
        Assert.False(files.KernelLost);
    }

    private static string Stdout(CellResult result) => string.Concat(result.Outputs.OfType<StreamOutput>().Where(o => o.Name == "stdout").Select(o => o.Text)).Trim();
}
