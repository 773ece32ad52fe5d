using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Conformance;

[Collection(nameof(SandboxCollection))]
public sealed class FilesTests(SandboxEngines engines)
{
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_MainFileImportsHelperModules_RunsTogether(string backend)
    {
        var request = new ExecutionRequest
        {
            Language = "python",
            Files =
            [
                new SourceFile("main.py", "from helper import greet\nfrom pkg.util import twice\nprint(greet('warden'), twice(21))\nprint(open('data/input.txt').read().strip())"),
                new SourceFile("helper.py", "def greet(name):\n    return 'hello ' + name"),
                new SourceFile("pkg/util.py", "def twice(x):\n    return 2 * x"),
                new SourceFile("data/input.txt", "from a data file\n"),
            ],
        };

        var result = await engines[backend].Engine.RunAsync(request);

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("hello warden 42\nfrom a data file\n", result.Run.Stdout);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_MainFileNamedExplicitly_RunsThatFile(string backend)
    {
        var request = new ExecutionRequest
        {
            Language = "bash",
            MainFile = "run.sh",
            Files = [new SourceFile("lib.sh", "say() { echo \"lib says $1\"; }"), new SourceFile("run.sh", "source ./lib.sh\nsay hi")],
        };

        var result = await engines[backend].Engine.RunAsync(request);

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("lib says hi\n", result.Run.Stdout);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_CWithHeaderFile_CompilesBoth(string backend)
    {
        var request = new ExecutionRequest
        {
            Language = "c",
            Files = [new SourceFile("main.c", "#include <stdio.h>\n#include \"answer.h\"\nint main(void) { printf(\"%d\\n\", ANSWER); }\n"),
                new SourceFile("answer.h", "#define ANSWER 42\n")],
        };

        var result = await engines[backend].Engine.RunAsync(request, timeoutSeconds: 120);

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("42\n", result.Run.Stdout);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_Workspace_WritableAndFreshPerExecution(string backend)
    {
        var engine = engines[backend].Engine;
        // Listing with the shell's own globbing, not ls: the subject is the workspace, not coreutils.
        const string list = "shopt -s dotglob nullglob; for f in /sandbox/* /tmp/*; do echo \"${f##*/}\"; done";
        var first = await engine.RunAsync(Run.Bash($"echo leftover > /sandbox/left.txt; echo tmp > /tmp/left.txt; {list.Replace("/tmp/*", "")}"));
        var second = await engine.RunAsync(Run.Bash($"{list}; echo end"));

        Run.AssertStatus(ExecutionStatus.Success, first);
        Assert.Equal("left.txt\nmain.sh\n", first.Run.Stdout);
        Run.AssertStatus(ExecutionStatus.Success, second);
        Assert.Equal("main.sh\nend\n", second.Run.Stdout);
    }
}
