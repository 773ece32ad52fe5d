using System.Text;
using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Security;

/// <summary>
/// A symlink race against file collection: a program forks a child that keeps exchanging a regular file with a symlink
/// to a host root-only file (renameat2 RENAME_EXCHANGE, or three renames where the kernel lacks it), then reports its
/// own exit on /dev/warden-exit (warm sandboxes) and exits, so collection starts while the child races. The old
/// collector checked each entry by name and then read it as root, and lost about one run in ten. With the pool on
/// (WARDEN_TEST_POOL=on) these runs are warm and end on the report. Only the result's files and truncation are used, so
/// the test runs unchanged against the old code (the mutation check).
/// </summary>
[Collection(nameof(SandboxCollection))]
public sealed class CollectFilesRaceTests(SandboxEngines engines) : IDisposable
{
    private readonly HostSecret _secret = new();

    // Ten file/link and ten directory/link pairs, two racing children: every entry the collector meets is mid-swap.
    private string Program() => $$"""
        import ctypes, os, sys, time
        secret = {{Quote(_secret.File)}}
        pairs = []
        for i in range(10):
            open('public%d.txt' % i, 'w').write('public')
            os.symlink(secret, 'link%d' % i)
            os.mkdir('dir%d' % i)
            open('dir%d/secret' % i, 'w').write('public too')
            os.symlink(os.path.dirname(secret), 'dirlink%d' % i)
            pairs += [(b'public%d.txt' % i, b'link%d' % i), (b'dir%d' % i, b'dirlink%d' % i)]
        for half in (pairs[0::2], pairs[1::2]):
            if os.fork() == 0:
                libc = ctypes.CDLL(None, use_errno=True)
                libc.prctl(15, b'warden-racer', 0, 0, 0)
                null = os.open('/dev/null', os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                exchange = getattr(libc, 'renameat2', None)
                def swap(a, b):
                    if exchange is not None and exchange(-100, a, -100, b, 2) == 0:
                        return
                    os.rename(a, b'tmp' + a); os.rename(b, a); os.rename(b'tmp' + a, b)
                deadline = time.time() + 20
                while time.time() < deadline:
                    for a, b in half:
                        try:
                            swap(a, b)
                        except OSError:
                            pass
                os._exit(0)
        time.sleep(0.03)
        print('racing')
        sys.stdout.flush()
        try:
            with open('/dev/warden-exit', 'w') as report:
                report.write('0\n')
        except OSError:
            pass
        os._exit(0)
        """;

    private static string Quote(string text) => "'" + text.Replace("\\", "\\\\").Replace("'", "\\'") + "'";

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Collect_ChildSwapsFilesAndLinksAfterTheExitReport_SecretNeverCollected(string backend)
    {
        var engine = engines[backend].Engine;
        var request = Run.Python(Program()) with { CollectFiles = true };
        int collectedPublic = 0;
        for (int i = 0; i < 100; i++)
        {
            var result = await engine.RunAsync(request, timeoutSeconds: 45);

            Assert.Equal("racing\n", result.Run.Stdout);
            foreach (var file in result.Files)
            {
                var text = Encoding.UTF8.GetString(file.Content);
                Assert.False(text.Contains(_secret.Value, StringComparison.Ordinal), $"run {i}: {file.Name} carried the host's secret");
                if (text.StartsWith("public", StringComparison.Ordinal)) collectedPublic++;
            }
            // The racer never outlives the answer (gVisor's processes live inside its kernel: none on the host to see).
            Assert.Empty(HostProcesses.Named("warden-racer"));
        }
        Assert.True(collectedPublic > 0, "no run collected the public files: the test did not exercise collection");
    }

    public void Dispose() => _secret.Dispose();
}
