namespace Warden.Core.Sandboxing.Seccomp;

/// <summary>
/// The rules of <see cref="SeccompPolicy"/> a backend must adapt to the kernel under the program. Renderers pick one
/// of these; the policy itself (what is denied, which socket families) is the same everywhere.
/// </summary>
/// <param name="DenyClone3">clone3 answers ENOSYS, so libc falls back to clone, whose namespace flags a filter can see
/// (clone3 passes them in memory). Needs a runtime that honours errnoRet.</param>
/// <param name="AllowSyslog">syslog is allowed: only where it cannot read the host kernel's log.</param>
internal sealed record SeccompProfileOptions(bool DenyClone3, bool AllowSyslog)
{
    /// <summary>The program runs on the host kernel (bwrap's compiled filter, Docker with runc).</summary>
    public static SeccompProfileOptions HostKernel { get; } = new(DenyClone3: true, AllowSyslog: false);

    /// <summary>
    /// The program runs on gVisor's Sentry. gVisor ignores errnoRet (every denial is EPERM), so no clone3 rule: glibc
    /// would not fall back to clone on EPERM and no thread could start. syslog reads the Sentry's log, never the host's.
    /// </summary>
    public static SeccompProfileOptions Gvisor { get; } = new(DenyClone3: false, AllowSyslog: true);
}
