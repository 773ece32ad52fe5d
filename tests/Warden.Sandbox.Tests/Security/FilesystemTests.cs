using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Security;

[Collection(nameof(SandboxCollection))]
public sealed class FilesystemTests(SandboxEngines engines)
{
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_ReadHostSecrets_Absent(string backend)
    {
        const string code = """
            import os
            for path in ['/etc/shadow', '/etc/gshadow', '/etc/sudoers', '/root', '/home', '/var/lib/warden', '/run', '/boot']:
                try:
                    with open(path) as f:
                        f.read()
                    print(path, 'READ')
                except OSError as e:
                    print(path, 'exists' if os.path.lexists(path) else 'absent', e.errno)
            """;

        var result = await engines[backend].Engine.RunAsync(Run.Python(code));

        Run.AssertStatus(ExecutionStatus.Success, result);
        var lines = result.Run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(8, lines.Length);
        Assert.All(lines, line => Assert.Contains(" absent ", line, StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_ReadPasswd_SeesOnlySyntheticUsers(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Bash("cut -d: -f1 /etc/passwd | sort | tr '\\n' ' '"));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("nobody root sandbox ", result.Run.Stdout);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_WriteOutsideWorkspace_ReadOnlyFileSystem(string backend)
    {
        var probe = $"warden-probe-{Guid.NewGuid():N}";
        var code = $$"""
            import os
            for d in ['/', '/usr', '/etc', '/bin', '/usr/local/bin', '/usr/lib']:
                path = os.path.join(d, '{{probe}}')
                try:
                    open(path, 'w').write('x')
                    print(d, 'WROTE')
                except OSError as e:
                    print(d, e.errno)
            for d in ['/sandbox', '/tmp']:
                open(os.path.join(d, 'ok'), 'w').write('x')
                print(d, 'ok')
            """;

        var result = await engines[backend].Engine.RunAsync(Run.Python(code));

        Run.AssertStatus(ExecutionStatus.Success, result);
        int e = BackendTraits.For(backend).ReadOnlyWriteErrno;
        Assert.Equal($"/ {e}\n/usr {e}\n/etc {e}\n/bin {e}\n/usr/local/bin {e}\n/usr/lib {e}\n/sandbox ok\n/tmp ok\n", result.Run.Stdout);
        foreach (var dir in new[] { "/", "/usr", "/etc", "/usr/bin", "/usr/local/bin", "/usr/lib" })
            Assert.False(File.Exists(Path.Combine(dir, probe)), $"{dir}/{probe} appeared on the host");
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_WriteKernelTunables_Refused(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Bash(
            "for f in /proc/sys/kernel/hostname /proc/sysrq-trigger /sys/kernel/uevent_helper; do (echo pwned > $f) 2>/dev/null && echo \"WROTE $f\"; done; echo done"));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("done\n", result.Run.Stdout);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_FillDisk_StoppedAtWorkspaceAndTmpSize(string backend)
    {
        // Workspace and /tmp are size-capped tmpfs (64 MB by default) and RLIMIT_FSIZE is 64 MB: writing 300 MB must fail.
        const string code = """
            import os
            for target in ['/sandbox/fill', '/tmp/fill']:
                written, err = 0, None
                try:
                    with open(target, 'wb', buffering=0) as f:
                        chunk = b'\0' * (1 << 20)
                        while written < (300 << 20):
                            written += f.write(chunk)
                except OSError as e:
                    err = e.errno
                os.remove(target)
                print(target, written, err)
            """;

        var result = await engines[backend].Engine.RunAsync(Run.Python(code, limits: new() { MemoryMb = 512 }));

        Run.AssertStatus(ExecutionStatus.Success, result);
        var lines = result.Run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        foreach (var line in lines)
        {
            var parts = line.Split(' ');
            Assert.InRange(long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), 1L << 20, 64L << 20);
            Assert.Contains(parts[2], new[] { "28", "27" }); // ENOSPC or EFBIG
        }
        var next = await engines[backend].Engine.RunAsync(Run.Bash("echo fine > /sandbox/f && cat /sandbox/f"));
        Run.AssertStatus(ExecutionStatus.Success, next);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_ManyEmptyFiles_StoppedAtTheWorkspaceFileBound(string backend)
    {
        // Empty files use none of the workspace's size, only inodes (kernel memory): nr_inodes bounds them, one per 4 KiB
        // of the workspace's size. The program stops at its first error and says which, while it runs. An engine of its
        // own with an 8 MB workspace keeps the count small enough for gVisor's gofer on a busy machine.
        const int workspaceMb = 8;
        const string code = """
            import os
            os.mkdir('/sandbox/many')
            n = 0
            try:
                while n < 100000:
                    open('/sandbox/many/%d' % n, 'w').close()
                    n += 1
                print('created', n)
            except OSError as e:
                print('errno', e.errno, 'created', n)
            """;
        await using var engine = await TestEngine.CreateAsync(backend, new Dictionary<string, string?>
        {
            ["Warden:Limits:WorkspaceMb"] = workspaceMb.ToString(System.Globalization.CultureInfo.InvariantCulture), ["Warden:MaxConcurrent"] = "1",
        });

        var result = await engine.Engine.RunAsync(Run.Python(code, limits: new() { MemoryMb = 512, TimeoutSeconds = 50 }), timeoutSeconds: 90);

        Run.AssertStatus(ExecutionStatus.Success, result);
        var parts = result.Run.Stdout.Trim().Split(' ');
        Assert.True(parts.Length == 4 && parts[0] == "errno", result.Run.Stdout);
        Assert.Equal("28", parts[1]); // ENOSPC
        long bound = Warden.Core.Limits.ResourceLimits.InodesFor((long)workspaceMb << 20);
        Assert.InRange(long.Parse(parts[3], System.Globalization.CultureInfo.InvariantCulture), bound - 64, bound);
    }
}
