using Warden.Core.Execution;
using Warden.Core.Sessions;

namespace Warden.Sessions.Tests;

public sealed class OtherKernelTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    private static string Text(CellResult r, string name) => string.Concat(r.Outputs.OfType<StreamOutput>().Where(o => o.Name == name).Select(o => o.Text));

    [Fact]
    public async Task Bash_KeepsVariablesAndDirectory_ReportsFailures_AndCanBeInterrupted()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(new SessionRequest("bash", Owners.User("alice")), ct).WaitAsync(Wait, ct);

        var first = await session.ExecuteAsync(new CellRequest("greeting=hello\nmkdir -p sub && cd sub\necho \"$greeting\"; echo oops >&2"), null, ct).WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Success, first.Status);
        Assert.Equal("hello\n", Text(first, "stdout"));
        Assert.Equal("oops\n", Text(first, "stderr"));

        var second = await session.ExecuteAsync(new CellRequest("echo \"$greeting from $(basename \"$PWD\")\""), null, ct).WaitAsync(Wait, ct);
        Assert.Equal("hello from sub\n", Text(second, "stdout"));

        var failed = await session.ExecuteAsync(new CellRequest("false"), null, ct).WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Error, failed.Status);

        var slow = await session.ExecuteAsync(new CellRequest("sleep 30", TimeoutSeconds: 1), null, ct).WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Timeout, slow.Status);
        Assert.False(slow.KernelLost, slow.Detail);
        var after = await session.ExecuteAsync(new CellRequest("echo \"$greeting\""), null, ct).WaitAsync(Wait, ct);
        Assert.Equal("hello\n", Text(after, "stdout"));
    }

    [Fact]
    public async Task JavaScript_KeepsGlobals_ShowsLastValue_ErrorsAndInterrupts()
    {
        await using var host = await SessionHost.StartAsync();
        var ct = TestContext.Current.CancellationToken;
        await using var session = await host.Sessions.CreateAsync(new SessionRequest("javascript", Owners.User("alice")), ct).WaitAsync(Wait, ct);

        var first = await session.ExecuteAsync(new CellRequest("var total = 40;\nconsole.log('hi', {a: 1});\nconsole.error('warn');\ntotal + 2"), null, ct)
            .WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Success, first.Status);
        Assert.Equal("hi { a: 1 }\n", Text(first, "stdout"));
        Assert.Equal("warn\n", Text(first, "stderr"));
        Assert.Equal("42", Assert.Single(first.Outputs.OfType<ExecuteResultOutput>()).Data.GetProperty("text/plain").GetString());

        var awaited = await session.ExecuteAsync(new CellRequest("await new Promise(r => setTimeout(r, 50)); console.log(total)"), null, ct).WaitAsync(Wait, ct);
        Assert.Equal("40\n", Text(awaited, "stdout"));

        var failed = await session.ExecuteAsync(new CellRequest("null.x"), null, ct).WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Error, failed.Status);
        Assert.Equal("TypeError", failed.Error?.Name);

        var spin = await session.ExecuteAsync(new CellRequest("while (true) {}", TimeoutSeconds: 1), null, ct).WaitAsync(Wait, ct);
        Assert.Equal(ExecutionStatus.Timeout, spin.Status);
        Assert.False(spin.KernelLost, spin.Detail);
        var after = await session.ExecuteAsync(new CellRequest("total"), null, ct).WaitAsync(Wait, ct);
        // Said in full: once on gVisor under CI load this cell had no result, and the status was not kept.
        Assert.True(after.Status == ExecutionStatus.Success, $"{after.Status}: {after.Error?.Name} {after.Error?.Value} {after.Detail}");
        Assert.Equal("40", Assert.Single(after.Outputs.OfType<ExecuteResultOutput>()).Data.GetProperty("text/plain").GetString());
    }
}
