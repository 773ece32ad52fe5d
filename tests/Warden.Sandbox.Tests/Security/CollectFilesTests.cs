using System.Diagnostics;
using System.Text;
using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Security;

/// <summary>
/// collect_files against everything a program can leave in its workspace for the host to trip on: FIFOs (which used to
/// hang the request and hold its slot), sockets (a 500), links to a host root-only file, hard links, a 100 GB sparse
/// file, 10,000 levels of directories, thousands of files, names that are not UTF-8. Each run must answer within a
/// bound, without an exception (the API's 500), without the host's secret, naming what it skipped, and leave its slot
/// free: nothing it started survives the answer, and the next run succeeds.
/// </summary>
[Collection(nameof(SandboxCollection))]
public sealed class CollectFilesTests(SandboxEngines engines) : IDisposable
{
    private readonly HostSecret _secret = new();

    private static ExecutionRequest Collecting(ExecutionRequest request) => request with { CollectFiles = true };

    /// <summary>
    /// Runs a hostile program that also leaves a background process marked in its command line, then checks the answer's
    /// bound, that the secret is nowhere in it, that the marked process is gone once the answer is back, and that the
    /// engine still runs the next program.
    /// </summary>
    private async Task<ExecutionResult> RunHostileAsync(string backend, ExecutionRequest request, int boundSeconds = 45)
    {
        var engine = engines[backend].Engine;
        var watch = Stopwatch.StartNew();
        var result = await engine.RunAsync(Collecting(request), timeoutSeconds: boundSeconds);
        watch.Stop();

        Assert.NotEqual(ExecutionStatus.SandboxError, result.Status);
        Assert.DoesNotContain(result.Files, f => Encoding.UTF8.GetString(f.Content).Contains(_secret.Value, StringComparison.Ordinal));
        Assert.DoesNotContain(_secret.Value, result.Run.Stdout + result.Run.Stderr, StringComparison.Ordinal);
        await AssertSlotFreeAsync(backend, request.Code ?? "");
        return result;
    }

    private async Task AssertSlotFreeAsync(string backend, string code)
    {
        if (Marker(code) is { } marker) Assert.Empty(HostProcesses.WithCommandLine(marker));
        var next = await engines[backend].Engine.RunAsync(Run.Python("print('next')"));
        Run.AssertStatus(ExecutionStatus.Success, next);
        Assert.Equal("next\n", next.Run.Stdout);
    }

    private static string? Marker(string code)
    {
        int at = code.IndexOf("warden-left-", StringComparison.Ordinal);
        return at < 0 ? null : code.Substring(at, "warden-left-".Length + 8);
    }

    /// <summary>A bash line that leaves a process behind whose command line carries a fresh marker.</summary>
    private static string LeaveProcess() =>
        $"(exec -a warden-left-{Guid.NewGuid().ToString("N")[..8]} sleep 600) </dev/null >/dev/null 2>&1 &\n";

    private static FileSkipReason? ReasonOf(ExecutionResult result, string name) => result.FilesSkipped.FirstOrDefault(s => s.Name == name)?.Reason;

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Collect_Fifo_AnswersAndSkipsIt(string backend)
    {
        var result = await RunHostileAsync(backend, Run.Bash(LeaveProcess() + "mkfifo f\necho made > out.txt\necho done"));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal(BackendTraits.For(backend).FifosCollected ? FileSkipReason.Fifo : null, ReasonOf(result, "f"));
        Assert.Equal(["out.txt"], result.Files.Select(f => f.Name));
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Collect_UnixSocket_KeepsTheOutputAndSkipsIt(string backend)
    {
        var result = await RunHostileAsync(backend, Run.Python(
            "import socket\nsocket.socket(socket.AF_UNIX).bind('sock')\nopen('out.txt', 'w').write('kept')\nprint('bound')"));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("bound\n", result.Run.Stdout);
        Assert.Equal(BackendTraits.For(backend).SocketsCollected ? FileSkipReason.Socket : null, ReasonOf(result, "sock"));
        Assert.Equal(["out.txt"], result.Files.Select(f => f.Name));
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Collect_LinksToARootOnlyHostFile_NeverFollowed(string backend)
    {
        var code = LeaveProcess() + $"ln -s {_secret.File} file-link\nln -s {_secret.Directory} dir-link\nln -s /etc/shadow shadow\n" +
            $"ln -s /proc/self/root{_secret.File} proc-link\nmkdir d && ln -s ../../../../../../..{_secret.File} d/up\necho ok";

        var result = await RunHostileAsync(backend, Run.Bash(code));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Empty(result.Files);
        foreach (var name in new[] { "file-link", "dir-link", "shadow", "proc-link", "d/up" }) Assert.Equal(FileSkipReason.Symlink, ReasonOf(result, name));
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Collect_HardLinks_OnlyTheWorkspacesOwnFiles(string backend)
    {
        // A hard link to a host file cannot be made (another filesystem, not visible); one inside the workspace is a file like any.
        var code = LeaveProcess() + $"ln {_secret.File} h1 2>/dev/null; ln /etc/passwd h2 2>/dev/null; echo mine > a; ln a b; echo ok";

        var result = await RunHostileAsync(backend, Run.Bash(code));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal(["a", "b"], result.Files.Select(f => f.Name).Order(StringComparer.Ordinal));
        Assert.All(result.Files, f => Assert.Equal("mine\n", Encoding.UTF8.GetString(f.Content)));
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Collect_HugeSparseFile_SkippedWithoutReadingIt(string backend)
    {
        // 100 GB where the file-size limit allows it, else as large as it allows: far beyond what a result carries either way.
        const string code = """
            import os, resource
            size = 100 << 30
            soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
            if soft != resource.RLIM_INFINITY and soft < size:
                size = soft
            with open('big', 'wb') as f:
                f.truncate(size)
            open('small.txt', 'w').write('small')
            print(os.stat('big').st_size >= 64 << 20)
            """;

        var result = await RunHostileAsync(backend, Run.Python(code), boundSeconds: 30);

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("True\n", result.Run.Stdout);
        Assert.Equal(FileSkipReason.TooLarge, ReasonOf(result, "big"));
        Assert.Equal(["small.txt"], result.Files.Select(f => f.Name));
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Collect_TenThousandLevels_BoundedAndAnswered(string backend)
    {
        const string code = """
            import os
            open('top.txt', 'w').write('top')
            for _ in range(10000):
                os.mkdir('d')
                os.chdir('d')
            open('bottom.txt', 'w').write('bottom')
            print('deep')
            """;

        var result = await RunHostileAsync(backend, Run.Python(code, limits: new Warden.Core.Limits.LimitRequest { TimeoutSeconds = 30 }), boundSeconds: 90);

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.True(result.FilesTruncated);
        Assert.DoesNotContain(result.Files, f => f.Name.EndsWith("bottom.txt", StringComparison.Ordinal));
        // Docker's daemon may refuse to archive such a tree at all; the answer then says so instead of failing.
        if (backend != "docker") Assert.Equal(["top.txt"], result.Files.Select(f => f.Name));
        Assert.NotEmpty(result.FilesSkipped);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Collect_ThousandsOfFiles_CappedAndTruncated(string backend)
    {
        var code = "import os\nfor i in range(5000):\n    open('f%05d' % i, 'w').write('x')\nprint('many')";

        var result = await RunHostileAsync(backend, Run.Python(code));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal(16, result.Files.Count);
        Assert.True(result.FilesTruncated);
        Assert.InRange(result.FilesSkipped.Count, 1, CollectedFiles.MaxSkippedReported);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Collect_HostileNames_EachAccountedForWithoutAnError(string backend)
    {
        var code = "import os\nopen(b'bad-\\xff\\xfe', 'w').write('raw')\nopen('line\\nbreak', 'w').write('nl')\nopen('n' * 255, 'w').write('long')\n" +
            "os.mkdir('sub')\nopen('sub/\\u00e9t\\u00e9.txt', 'w').write('utf8')\nprint('named')";

        var result = await RunHostileAsync(backend, Run.Python(code));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal(["line\nbreak", new string('n', 255), "sub/\u00e9t\u00e9.txt"], result.Files.Select(f => f.Name).Order(StringComparer.Ordinal));
        Assert.Contains(result.FilesSkipped, s => s.Reason == FileSkipReason.NameNotUtf8 && s.Name.StartsWith("bad-", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Collect_FileAndDirectoryOfTheSameName_IsABadRequest(string backend)
    {
        var request = new ExecutionRequest
        {
            Language = "bash", CollectFiles = true, Files = [new SourceFile("main.sh", "echo hi"), new SourceFile("a", "x"), new SourceFile("a/b", "y")],
        };

        var e = await Assert.ThrowsAsync<InvalidRequestException>(() => engines[backend].Engine.RunAsync(request));

        Assert.Equal("files", e.Parameter);
        Assert.Contains("'a'", e.Message, StringComparison.Ordinal);
        await AssertSlotFreeAsync(backend, "");
    }

    public void Dispose() => _secret.Dispose();
}
