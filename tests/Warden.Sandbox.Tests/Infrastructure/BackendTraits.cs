namespace Warden.Sandbox.Tests.Infrastructure;

/// <summary>
/// Where backends legitimately differ because the kernel under the program differs (the host's for bwrap, gVisor's
/// Sentry for gvisor). Every entry is a documented property of the backend (README, security model), never a way to
/// excuse a failure: each test still asserts that the attack fails, only how it fails varies.
/// </summary>
public sealed record BackendTraits(
    /// <summary>errno of a write to the read-only root: EROFS (30) on Linux; gVisor checks permissions first (EACCES, 13).</summary>
    int ReadOnlyWriteErrno,
    /// <summary>bwrap's programs are host processes (under a slot uid); gVisor's are tasks inside the Sentry, invisible to the host.</summary>
    bool ProgramsAreHostProcesses,
    /// <summary>syslog is denied under bwrap; inside gVisor it only reads the Sentry's own boot log.</summary>
    bool SyslogDenied,
    /// <summary>bwrap's seccomp filter kills foreign ABIs (x32); the Sentry implements no x32 ABI at all (ENOSYS).</summary>
    bool ForeignAbiKilled,
    /// <summary>Memory the isolation layer itself charges to the sandbox's cgroup (gVisor's Sentry and gofer).</summary>
    int MemoryOverheadMb,
    /// <summary>gVisor's /proc/self/status has no CapAmb and NoNewPrivs lines.</summary>
    bool FullProcStatus,
    /// <summary>The lowest host uid a sandboxed process may have: the sandbox uid range (Warden:SandboxUidBase), which Docker's containers lease from too.</summary>
    int HostUidFloor,
    /// <summary>A program's FIFOs reach what the host collects; gVisor keeps them inside the Sentry.</summary>
    bool FifosCollected = true,
    /// <summary>A program's sockets reach what the host collects; gVisor keeps them inside the Sentry, Docker's archives leave them out.</summary>
    bool SocketsCollected = true)
{
    public static BackendTraits For(string backend) => backend switch
    {
        "gvisor" => new(ReadOnlyWriteErrno: 13, ProgramsAreHostProcesses: false, SyslogDenied: false, ForeignAbiKilled: false,
            MemoryOverheadMb: 64, FullProcStatus: false, HostUidFloor: 200000, FifosCollected: false, SocketsCollected: false),
        "docker" => new(ReadOnlyWriteErrno: 30, ProgramsAreHostProcesses: true, SyslogDenied: true, ForeignAbiKilled: true,
            MemoryOverheadMb: 0, FullProcStatus: true, HostUidFloor: 200000, SocketsCollected: false),
        _ => new(ReadOnlyWriteErrno: 30, ProgramsAreHostProcesses: true, SyslogDenied: true, ForeignAbiKilled: true,
            MemoryOverheadMb: 0, FullProcStatus: true, HostUidFloor: 200000),
    };
}
