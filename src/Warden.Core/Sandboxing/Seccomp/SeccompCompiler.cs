using System.Runtime.InteropServices;

namespace Warden.Core.Sandboxing.Seccomp;

/// <summary>
/// Compiles <see cref="SeccompPolicy"/> to a classic BPF program with libseccomp (the runtime library only,
/// libseccomp2), which bwrap loads with <c>--seccomp FD</c>. libseccomp handles architecture checks (x32 and foreign
/// ABIs kill the process) and syscall numbering, which a hand-written filter easily gets wrong.
/// </summary>
internal static partial class SeccompCompiler
{
    private const string Lib = "libseccomp.so.2";
    private const uint ActAllow = 0x7fff0000;
    private const uint ActKillProcess = 0x80000000;
    private const int AttrBadArch = 2; // SCMP_FLTATR_ACT_BADARCH (1 is the read-only default action)
    private const int EPERM = 1, EACCES = 13, ENOSYS = 38;

    private static uint ActErrno(int errno) => 0x00050000u | (uint)(errno & 0xffff);

    [StructLayout(LayoutKind.Sequential)]
    private struct ArgCmp
    {
        public uint Arg;
        public int Op;
        public ulong DatumA;
        public ulong DatumB;
    }

    private enum Cmp { Ne = 1, Lt = 2, Le = 3, Eq = 4, Ge = 5, Gt = 6, MaskedEq = 7 }

    [LibraryImport(Lib)] private static partial nint seccomp_init(uint defaultAction);
    [LibraryImport(Lib)] private static partial void seccomp_release(nint ctx);
    [LibraryImport(Lib)] private static partial int seccomp_attr_set(nint ctx, int attribute, uint value);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] private static partial int seccomp_syscall_resolve_name(string name);
    [LibraryImport(Lib)] private static unsafe partial int seccomp_rule_add_array(nint ctx, uint action, int syscall, uint count, ArgCmp* args);
    [LibraryImport(Lib)] private static partial int seccomp_export_bpf(nint ctx, int fd);

    /// <summary>True when libseccomp can be loaded on this host.</summary>
    public static bool IsAvailable(out string detail)
    {
        try
        {
            var ctx = seccomp_init(ActAllow);
            seccomp_release(ctx);
            detail = "libseccomp.so.2 loaded";
            return ctx != 0;
        }
        catch (DllNotFoundException)
        {
            detail = "libseccomp.so.2 not found (apt-get install libseccomp2)";
            return false;
        }
    }

    /// <summary>Writes the BPF program to <paramref name="path"/>. With <paramref name="allowInet"/> the sandbox may open TCP/UDP sockets.</summary>
    public static void Compile(string path, bool allowInet)
    {
        var ctx = seccomp_init(ActAllow);
        if (ctx == 0) throw new InvalidOperationException("seccomp_init failed");
        try
        {
            Check(seccomp_attr_set(ctx, AttrBadArch, ActKillProcess), "set bad-arch action");
            foreach (var name in SeccompPolicy.Denied) AddRule(ctx, ActErrno(EPERM), name);
            foreach (var flag in SeccompPolicy.NamespaceCloneFlags)
                AddRule(ctx, ActErrno(EPERM), "clone", new ArgCmp { Arg = 0, Op = (int)Cmp.MaskedEq, DatumA = flag, DatumB = flag });
            // clone3 passes its flags in memory, where a filter cannot look: make libc fall back to clone.
            AddRule(ctx, ActErrno(ENOSYS), "clone3");
            foreach (var request in SeccompPolicy.DeniedIoctls)
                AddRule(ctx, ActErrno(EPERM), "ioctl", new ArgCmp { Arg = 1, Op = (int)Cmp.MaskedEq, DatumA = 0xffffffff, DatumB = request });

            // Sockets: only AF_UNIX (plus AF_INET/AF_INET6 when networking is granted). Everything else - netlink,
            // packet, vsock, bluetooth, alg... - fails with EACCES.
            if (!allowInet)
            {
                AddRule(ctx, ActErrno(EACCES), "socket", new ArgCmp { Arg = 0, Op = (int)Cmp.Ne, DatumA = SeccompPolicy.AF_UNIX });
            }
            else
            {
                AddRule(ctx, ActErrno(EACCES), "socket", new ArgCmp { Arg = 0, Op = (int)Cmp.Lt, DatumA = SeccompPolicy.AF_UNIX });
                for (ulong family = 3; family < SeccompPolicy.AF_INET6; family++)
                    AddRule(ctx, ActErrno(EACCES), "socket", new ArgCmp { Arg = 0, Op = (int)Cmp.Eq, DatumA = family });
                AddRule(ctx, ActErrno(EACCES), "socket", new ArgCmp { Arg = 0, Op = (int)Cmp.Gt, DatumA = SeccompPolicy.AF_INET6 });
            }

            using var file = File.Create(path);
            Check(seccomp_export_bpf(ctx, (int)file.SafeFileHandle.DangerousGetHandle()), "export");
        }
        finally
        {
            seccomp_release(ctx);
        }
    }

    private static unsafe void AddRule(nint ctx, uint action, string syscall, params ArgCmp[] args)
    {
        int number = seccomp_syscall_resolve_name(syscall);
        if (number < 0) return; // unknown to this libseccomp: the kernel answers ENOSYS for it anyway
        fixed (ArgCmp* p = args)
            Check(seccomp_rule_add_array(ctx, action, number, (uint)args.Length, p), $"rule for {syscall}");
    }

    private static void Check(int result, string what)
    {
        if (result < 0) throw new InvalidOperationException($"libseccomp: {what} failed: {Marshal.GetPInvokeErrorMessage(-result)}");
    }
}
