using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Security;

[Collection(nameof(SandboxCollection))]
public sealed class PrivilegeTests(SandboxEngines engines)
{
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_ProcessStatus_NoCapabilitiesNoNewPrivsSeccompFilter(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Bash("grep -E '^(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status"));

        Run.AssertStatus(ExecutionStatus.Success, result);
        var status = result.Run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(':', 2)).ToDictionary(p => p[0], p => p[1].Trim());
        foreach (var cap in new[] { "CapInh", "CapPrm", "CapEff", "CapBnd" }) Assert.Equal("0000000000000000", status[cap]);
        Assert.Equal("2", status["Seccomp"]);
        if (BackendTraits.For(backend).FullProcStatus)
        {
            Assert.Equal("0000000000000000", status["CapAmb"]);
            Assert.Equal("1", status["NoNewPrivs"]);
        }
        Assert.DoesNotContain("0", status["Uid"].Split('\t'));
        Assert.DoesNotContain("0", status["Gid"].Split('\t'));
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_SetuidBinaries_DoNotElevate(string backend)
    {
        const string code = """
            id -u
            /usr/bin/su root -c 'echo ROOTED' </dev/null 2>/dev/null; echo "su=$?"
            /usr/bin/mount -t tmpfs none /tmp 2>/dev/null; echo "mount=$?"
            /usr/bin/newgrp root </dev/null 2>/dev/null; echo "newgrp=$?"
            id -u
            """;

        var result = await engines[backend].Engine.RunAsync(Run.Bash(code));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.DoesNotContain("ROOTED", result.Run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("su=0", result.Run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("mount=0", result.Run.Stdout, StringComparison.Ordinal);
        var lines = result.Run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEqual("0", lines[0]);
        Assert.Equal(lines[0], lines[^1]); // the uid never changed
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_SetuidToRoot_NotPermitted(string backend)
    {
        const string code = """
            import os
            print(os.getuid(), os.geteuid())
            for call in (lambda: os.setuid(0), lambda: os.setgid(0), lambda: os.setgroups([0])):
                try:
                    call()
                    print('CHANGED')
                except OSError as e:
                    print(e.errno)
            print(os.getuid(), os.geteuid())
            """;

        var result = await engines[backend].Engine.RunAsync(Run.Python(code));

        Run.AssertStatus(ExecutionStatus.Success, result);
        // EPERM, or EINVAL where uid/gid 0 is not even mapped into the sandbox's user namespace.
        var lines = result.Run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.All(lines[1..4], line => Assert.Contains(line, new[] { "1", "22" }));
        Assert.DoesNotContain("0", lines[0].Split(' '));
        Assert.Equal(lines[0], lines[4]); // still the same unprivileged uid
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_ReadServiceEnvironment_SecretNotVisible(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Bash(
            "env; echo ---; tr '\\0' '\\n' < /proc/1/environ 2>/dev/null; echo ---; tr '\\0' '\\n' < /proc/self/environ; echo ---; cat /proc/1/cmdline 2>/dev/null"));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.DoesNotContain(engines.Secret, result.Run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(SandboxEngines.SecretVariable, result.Run.Stdout, StringComparison.Ordinal);
        var names = result.Run.Stdout.Split("---")[0].Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=')[0]).ToHashSet();
        string[] allowed = ["PATH", "HOME", "USER", "LANG", "LC_ALL", "TMPDIR", "PWD", "SHLVL", "_", "OLDPWD"];
        Assert.Empty(names.Except(allowed));
    }
}
