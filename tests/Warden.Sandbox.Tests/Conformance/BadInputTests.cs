using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Conformance;

/// <summary>Requests the engine refuses: they must fail before any sandbox is touched and leave nothing behind.</summary>
[Collection(nameof(SandboxCollection))]
public sealed class BadInputTests(SandboxEngines engines)
{
    private async Task<TException> RefusedAsync<TException>(string backend, ExecutionRequest request) where TException : WardenException
    {
        var testEngine = engines[backend];
        var engine = testEngine.Engine;
        // The warm pool refills and slots are recycled in the background: count processes only once that is done.
        await testEngine.SettleAsync();
        var before = testEngine.Instance is { } instance ? HostProcesses.WithCommandLine(instance).Count : 0;

        var e = await Assert.ThrowsAsync<TException>(() => engine.RunAsync(request));

        Assert.Equal(0, engine.Stats.Active);
        Assert.Equal(0, engine.Stats.Queued);
        // Slots are recycled in the background (a fresh helper is parked after each run), so give the count a moment
        // to settle before comparing: a refused request must not leave a process of its own behind.
        if (testEngine.Instance is { } name)
        {
            await testEngine.SettleAsync();
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while (HostProcesses.WithCommandLine(name).Count != before && DateTime.UtcNow < deadline) await Task.Delay(20);
            Assert.Equal(before, HostProcesses.WithCommandLine(name).Count);
        }
        var next = await engine.RunAsync(Run.Python("print('ok')"));
        Run.AssertStatus(ExecutionStatus.Success, next);
        return e;
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_EmptyCode_InvalidRequest(string backend)
    {
        var e = await RefusedAsync<InvalidRequestException>(backend, Run.Python("   \n"));

        Assert.Equal("code", e.Parameter);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_UnknownLanguage_ListsAvailableLanguages(string backend)
    {
        var e = await RefusedAsync<UnknownLanguageException>(backend, Run.Code("brainfuck", "+."));

        Assert.Contains("python", e.Message, StringComparison.Ordinal);
        Assert.Contains("bash", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_LimitAboveCeiling_NamesTheLimit(string backend)
    {
        var e = await RefusedAsync<LimitAboveCeilingException>(backend, Run.Python("print(1)", limits: new LimitRequest { MemoryMb = 1 << 20 }));

        Assert.Equal("memory_mb", e.Limit);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_CodeOverMaxCodeBytes_PayloadTooLarge(string backend)
    {
        var code = "# " + new string('x', (1 << 20) + 1) + "\nprint(1)";

        var e = await RefusedAsync<PayloadTooLargeException>(backend, Run.Python(code));

        Assert.Contains("MaxCodeBytes", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_StdinOverLimit_PayloadTooLarge(string backend)
    {
        await RefusedAsync<PayloadTooLargeException>(backend, Run.Python("print(1)", stdin: new string('s', (1 << 20) + 1)));
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_FileNameEscapesWorkspace_InvalidRequest(string backend)
    {
        var request = new ExecutionRequest { Language = "python", Files = [new SourceFile("main.py", "print(1)"), new SourceFile("../../etc/evil", "x")] };

        var e = await RefusedAsync<InvalidRequestException>(backend, request);

        Assert.Equal("files", e.Parameter);
        Assert.False(File.Exists("/etc/evil"));
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_NonPositiveTimeout_InvalidRequest(string backend)
    {
        var e = await RefusedAsync<InvalidRequestException>(backend, Run.Python("print(1)", limits: new LimitRequest { TimeoutSeconds = 0 }));

        Assert.Equal("timeout", e.Parameter);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_NetworkNotAllowed_InvalidRequest(string backend)
    {
        var e = await RefusedAsync<InvalidRequestException>(backend, Run.Python("print(1)") with { Network = true });

        Assert.Equal("network", e.Parameter);
    }
}
