using System.Diagnostics;
using Warden.Core.Cgroups;
using Warden.Core.Sandboxing.Seccomp;

namespace Warden.Core.Sandboxing.Bubblewrap;

/// <summary>Every prerequisite of the bwrap backend, each with the exact fix (host, Docker and Kubernetes).</summary>
internal static class BubblewrapProbe
{
    private const string DockerUserns = "in Docker: --security-opt seccomp=unconfined --security-opt apparmor=unconfined; " +
        "in Kubernetes: securityContext.seccompProfile.type: Unconfined and securityContext.appArmorProfile.type: Unconfined";

    public static BackendProbe Run(string bwrapPath, string helperPath)
    {
        var checks = new List<ProbeCheck>();
        bool haveBwrap = File.Exists(bwrapPath);
        checks.Add(new("bwrap binary", haveBwrap, haveBwrap ? $"{bwrapPath} ({Version(bwrapPath)})" : $"{bwrapPath} not found",
            "apt-get install bubblewrap (or set Warden:Bubblewrap:BwrapPath)"));
        bool haveHelper = File.Exists(helperPath);
        checks.Add(new("exec helper", haveHelper, haveHelper ? helperPath : $"{helperPath} not found",
            "build it: ./warden build (needs gcc: apt-get install gcc), or set Warden:ExecHelperPath"));

        var maxUserNs = ReadSysctl("/proc/sys/user/max_user_namespaces");
        var unprivClone = ReadSysctl("/proc/sys/kernel/unprivileged_userns_clone");
        var apparmorRestrict = ReadSysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
        checks.Add(maxUserNs is "0"
            ? new("user namespaces", false, "user.max_user_namespaces = 0", "sysctl -w user.max_user_namespaces=15000")
            : unprivClone is "0"
                ? new("user namespaces", false, "kernel.unprivileged_userns_clone = 0", "sysctl -w kernel.unprivileged_userns_clone=1")
                : new("user namespaces", true, $"user.max_user_namespaces = {maxUserNs ?? "?"}"));
        if (apparmorRestrict is "1")
            checks.Add(new("AppArmor userns restriction", false, "kernel.apparmor_restrict_unprivileged_userns = 1 (Ubuntu 23.10+)",
                "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or install an AppArmor profile granting 'userns' to /usr/bin/bwrap (abi <abi/4.0>, profile bwrap /usr/bin/bwrap flags=(unconfined) { userns, } in /etc/apparmor.d/bwrap)"));
        else
            checks.Add(new("AppArmor userns restriction", true, apparmorRestrict is null ? "not present on this kernel" : "off"));

        bool seccomp = SeccompCompiler.IsAvailable(out var seccompDetail);
        checks.Add(new("seccomp (libseccomp)", seccomp, seccompDetail, "apt-get install libseccomp2"));
        var status = File.ReadAllText("/proc/self/status");
        bool kernelSeccomp = status.Contains("Seccomp:", StringComparison.Ordinal);
        checks.Add(new("seccomp (kernel)", kernelSeccomp, kernelSeccomp ? "supported" : "kernel lacks CONFIG_SECCOMP_FILTER", "use a kernel built with CONFIG_SECCOMP_FILTER"));

        var cgroups = CgroupHost.Probe();
        checks.Add(new("cgroups", cgroups.Usable, cgroups.Detail,
            "mount cgroupfs read-write: in Docker --mount type=bind,source=/sys/fs/cgroup,target=/sys/fs/cgroup,readonly=false (v2 also --cgroupns=private); " +
            "in Kubernetes a hostPath volume for /sys/fs/cgroup with readOnly: false; with systemd, Delegate=yes on the unit. " +
            "Or set WARDEN_ALLOW_DEGRADED=true to run without limits", Required: false));

        if (haveBwrap) checks.Add(SmokeTest(bwrapPath));
        return new BackendProbe("bwrap", checks);
    }

    /// <summary>Starts a real, minimal bwrap sandbox: the only proof that namespaces and a fresh /proc work here.</summary>
    private static ProbeCheck SmokeTest(string bwrapPath)
    {
        try
        {
            var start = new ProcessStartInfo(bwrapPath) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            foreach (var a in new[] { "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
                         "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev", "--", "/usr/bin/true" })
                start.ArgumentList.Add(a);
            using var p = Process.Start(start)!;
            var err = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(10_000)) { p.Kill(true); return new("sandbox smoke test", false, "bwrap did not finish within 10 s", "check `bwrap --unshare-all --ro-bind /usr /usr --proc /proc --dev /dev /usr/bin/true` by hand"); }
            if (p.ExitCode == 0) return new("sandbox smoke test", true, "bwrap started a sandbox with new namespaces and a fresh /proc");
            var message = err.Result.Trim();
            var fix = message.Contains("proc", StringComparison.OrdinalIgnoreCase)
                ? "the container masks /proc: in Docker add --security-opt systempaths=unconfined (or bind the host /proc at /proc2 as for gVisor); in Kubernetes securityContext.procMount: Unmasked"
                : "user namespaces are blocked: " + DockerUserns;
            return new("sandbox smoke test", false, $"bwrap failed: {message}", fix);
        }
        catch (Exception e) when (e is IOException or System.ComponentModel.Win32Exception)
        {
            return new("sandbox smoke test", false, e.Message, "apt-get install bubblewrap");
        }
    }

    private static string Version(string bwrapPath)
    {
        try
        {
            var start = new ProcessStartInfo(bwrapPath, "--version") { RedirectStandardOutput = true, UseShellExecute = false };
            using var p = Process.Start(start)!;
            var text = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit(5000);
            return text;
        }
        catch (Exception e) when (e is IOException or System.ComponentModel.Win32Exception)
        {
            return "version unknown";
        }
    }

    private static string? ReadSysctl(string path)
    {
        try { return File.ReadAllText(path).Trim(); } catch (IOException) { return null; } catch (UnauthorizedAccessException) { return null; }
    }
}
