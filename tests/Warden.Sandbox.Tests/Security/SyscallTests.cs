using Warden.Core.Execution;
using Warden.Sandbox.Tests.Infrastructure;

namespace Warden.Sandbox.Tests.Security;

/// <summary>Syscalls that reach the host kernel's riskiest surface, made directly (python ctypes) so no libc wrapper hides them.</summary>
[Collection(nameof(SandboxCollection))]
public sealed class SyscallTests(SandboxEngines engines)
{
    // x86_64 numbers. Arguments are valid enough that, without the filter, most calls would do something or fail otherwise.
    private const string Caller = """
        import ctypes, os, sys
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        buf = ctypes.create_string_buffer(256)
        S = ctypes.c_char_p
        calls = {
            'ptrace_traceme': (101, [0, 0, 0, 0]),
            'mount': (165, [S(b'none'), S(b'/tmp'), S(b'tmpfs'), 0, 0]),
            'umount': (166, [S(b'/tmp'), 2]),
            'unshare_user': (272, [0x10000000]),
            'unshare_mount': (272, [0x00020000]),
            'unshare_net': (272, [0x40000000]),
            'clone_newuser': (56, [0x10000000 | 17, 0, 0, 0, 0]),
            'setns': (308, [0, 0]),
            'chroot': (161, [S(b'/tmp')]),
            'io_uring_setup': (425, [1, buf]),
            'keyctl': (250, [0, -3, 0]),
            'add_key': (248, [S(b'user'), S(b'k'), S(b'v'), 1, -3]),
            'bpf': (321, [0, buf, 72]),
            'perf_event_open': (298, [buf, 0, -1, -1, 0]),
            'userfaultfd': (323, [0]),
            'process_vm_readv': (310, [1, 0, 0, 0, 0, 0]),
            'init_module': (175, [0, 0, S(b'')]),
            'kexec_load': (246, [0, 0, 0, 0]),
            'pivot_root': (155, [S(b'/tmp'), S(b'/tmp')]),
            'open_by_handle_at': (304, [0, buf, 0]),
            'settimeofday': (164, [buf, 0]),
            'syslog': (103, [3, buf, 255]),
        }
        nr, args = calls[sys.argv[1]]
        ctypes.set_errno(0)
        r = libc.syscall(ctypes.c_long(nr), *[a if isinstance(a, (S, ctypes.Array)) else ctypes.c_long(a) for a in args])
        if r == 0 and nr == 56:
            os._exit(0)  # a clone that succeeded: the child must not print
        print(r, ctypes.get_errno())
        """;

    public static TheoryData<string, string> DeniedSyscalls => Backends.Cross([
        "ptrace_traceme", "mount", "umount", "unshare_user", "unshare_mount", "unshare_net", "clone_newuser", "setns", "chroot",
        "io_uring_setup", "keyctl", "add_key", "bpf", "perf_event_open", "userfaultfd", "process_vm_readv", "init_module",
        "kexec_load", "pivot_root", "open_by_handle_at", "settimeofday", "syslog",
    ]);

    [Theory]
    [MemberData(nameof(DeniedSyscalls))]
    public async Task Execute_DeniedSyscall_Eperm(string backend, string syscall)
    {
        if (syscall == "syslog" && !BackendTraits.For(backend).SyslogDenied)
        {
            // gVisor answers syslog from the Sentry's own boot log: prove it is that log, not the host's.
            var log = await engines[backend].Engine.RunAsync(Run.Bash("dmesg 2>&1 | head -2"));
            Assert.Contains("gVisor", log.Run.Stdout, StringComparison.Ordinal);
            return;
        }
        var result = await engines[backend].Engine.RunAsync(Run.Python(Caller, [syscall]));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("-1 1\n", result.Run.Stdout); // EPERM
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_UnshareCommand_Fails(string backend)
    {
        var result = await engines[backend].Engine.RunAsync(Run.Bash(
            "unshare -r true 2>/dev/null; echo \"userns=$?\"; unshare -m true 2>/dev/null; echo \"mountns=$?\""));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.DoesNotContain("=0", result.Run.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_ForkThreadsAndSubprocess_StillAllowed(string backend)
    {
        const string code = """
            import os, subprocess, threading
            pid = os.fork()
            if pid == 0:
                os._exit(7)
            print(os.waitpid(pid, 0)[1] >> 8)
            t = threading.Thread(target=lambda: print('thread'))
            t.start(); t.join()
            print(subprocess.run(['/usr/bin/echo', 'sub'], capture_output=True, text=True).stdout.strip())
            """;

        var result = await engines[backend].Engine.RunAsync(Run.Python(code));

        Run.AssertStatus(ExecutionStatus.Success, result);
        Assert.Equal("7\nthread\nsub\n", result.Run.Stdout);
    }

    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task Execute_X32AbiSyscall_ProcessKilled(string backend)
    {
        // getpid through the x32 ABI (nr | 0x40000000): a foreign ABI the filter was not written for must kill, not run.
        const string code = "import ctypes, sys\nprint('before', flush=True)\nlibc = ctypes.CDLL(None, use_errno=True)\nr = libc.syscall(ctypes.c_long(0x40000000 | 39))\nprint('SURVIVED', r, ctypes.get_errno())";

        var result = await engines[backend].Engine.RunAsync(Run.Python(code));

        if (!BackendTraits.For(backend).ForeignAbiKilled)
        {
            // No x32 ABI in the Sentry: the call fails with ENOSYS and reaches no kernel.
            Run.AssertStatus(ExecutionStatus.Success, result);
            Assert.Equal("before\nSURVIVED -1 38\n", result.Run.Stdout);
            return;
        }
        Run.AssertStatus(ExecutionStatus.Error, result);
        Assert.Equal("before\n", result.Run.Stdout);
        Assert.Equal(31, result.Run.Signal); // SIGSYS
    }
}
