using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Security;

[Collection(nameof(SandboxCollection))]
public sealed class CrossExecutionTests(SandboxEngines engines)
{
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_ConcurrentRun_CannotFindOtherRunsSecret(string backend)
    {
        var engine = engines[backend].Engine;
        var secret = $"secret-{Guid.NewGuid():N}";
        var marker = $"holder-{Guid.NewGuid():N}";
        // A leaves its secret in its workspace and /tmp, then waits under a name the host can see.
        var traits = BackendTraits.For(backend);
        var holder = engine.RunAsync(Run.Bash($"echo \"$1\" > /sandbox/secret.txt; echo \"$1\" > /tmp/secret.txt; exec -a \"$2\" sleep {(traits.ProgramsAreHostProcesses ? 4 : 7)}", [secret, marker]));
        if (traits.ProgramsAreHostProcesses) await HostProcesses.WaitForAsync(marker, TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        // A gVisor program is not a host process to wait for: give its sandbox time to boot and write the secret.
        else await Task.Delay(TimeSpan.FromSeconds(3), TestContext.Current.CancellationToken);

        // B searches everywhere it can reach, including other processes' roots and working directories.
        const string hunter = """
            import os, stat, sys
            secret = sys.argv[1][::-1]  # passed reversed, so this program's own argv does not contain it
            found = []
            def scan(root):
                for dirpath, dirnames, filenames in os.walk(root, onerror=lambda e: None, followlinks=False):
                    if dirpath.startswith(('/proc/sys', '/sys')):
                        dirnames[:] = []
                        continue
                    for name in filenames:
                        path = os.path.join(dirpath, name)
                        try:
                            # Regular files only: a device or a pipe (/dev/ptmx, /proc/*/fd) could block the read forever.
                            if not stat.S_ISREG(os.lstat(path).st_mode):
                                continue
                            with open(path, 'rb') as f:
                                if secret.encode() in f.read(1 << 20):
                                    found.append(path)
                        except OSError:
                            pass
            for root in ['/sandbox', '/tmp', '/dev/shm', '/etc', '/var', '/run', '/home', '/root']:
                scan(root)
            for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
                for link in ['root/sandbox', 'root/tmp', 'cwd']:
                    scan(f'/proc/{pid}/{link}')
                for f in ['environ', 'cmdline']:
                    try:
                        if secret.encode() in open(f'/proc/{pid}/{f}', 'rb').read():
                            found.append(f'/proc/{pid}/{f}')
                    except OSError:
                        pass
            print('FOUND' if found else 'CLEAN', sorted(os.listdir('/sandbox')), found)
            """;
        var hunt = await engine.RunAsync(Run.Python(hunter, [new string(secret.Reverse().ToArray())]));
        var held = await holder;

        Run.AssertStatus(ExecutionStatus.Success, held);
        Run.AssertStatus(ExecutionStatus.Success, hunt);
        Assert.Equal("CLEAN ['main.py'] []\n", hunt.Run.Stdout);
    }
}
