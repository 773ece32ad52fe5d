using System.Diagnostics;
using Warden.Core.Cgroups;

namespace Warden.Core.Sandboxing.Gvisor;

/// <summary>Prerequisites of the gvisor backend, with the Docker/Kubernetes settings safe-code-execution's Open WebUI setup guide explains.</summary>
internal static class RunscProbe
{
    private static readonly string[] PlatformPreference = ["systrap", "ptrace"];

    public static BackendProbe Run(GvisorOptions options, string helperPath)
    {
        var checks = new List<ProbeCheck>();
        bool haveRunsc = File.Exists(options.RunscPath);
        checks.Add(new("runsc binary", haveRunsc, haveRunsc ? $"{options.RunscPath} ({Version(options.RunscPath)})" : $"{options.RunscPath} not found",
            "apt-get install runsc (Debian 12+), or install gVisor from gvisor.dev and set Warden:Gvisor:RunscPath"));
        bool haveHelper = File.Exists(helperPath);
        checks.Add(new("exec helper", haveHelper, haveHelper ? helperPath : $"{helperPath} not found", "./warden builds it (needs gcc)"));
        bool root = Interop.Libc.geteuid() == 0;
        checks.Add(new("root", root, root ? "running as root" : "not root", "run Warden as root for the gvisor backend (runsc needs it)"));
        if (haveRunsc)
        {
            var platforms = Platforms(options.RunscPath);
            var chosen = ChoosePlatform(options);
            checks.Add(new("platform", platforms.Contains(chosen), $"{chosen} (this runsc offers: {string.Join(", ", platforms)})",
                "set Warden:Gvisor:Platform to one of the offered platforms"));
        }
        var cgroups = CgroupHost.Probe();
        checks.Add(new("cgroups", cgroups.Usable, cgroups.Detail,
            "in Docker: --mount type=bind,source=/sys/fs/cgroup,target=/sys/fs/cgroup,readonly=false; in Kubernetes: a hostPath volume for /sys/fs/cgroup, readOnly: false",
            Required: false));
        if (haveRunsc && root) checks.Add(SmokeTest(options));
        return new BackendProbe("gvisor", checks);
    }

    /// <summary>systrap, else ptrace; kvm only when configured (it needs real hardware virtualisation and hangs on paravirtual /dev/kvm).</summary>
    public static string ChoosePlatform(GvisorOptions options)
    {
        if (!string.Equals(options.Platform, "auto", StringComparison.OrdinalIgnoreCase)) return options.Platform;
        var offered = File.Exists(options.RunscPath) ? Platforms(options.RunscPath) : [];
        return PlatformPreference.FirstOrDefault(offered.Contains) ?? "ptrace";
    }

    private static List<string> Platforms(string runsc) =>
        Run(runsc, ["help", "platforms"]).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.All(c => char.IsLetterOrDigit(c) || c == '-')).ToList();

    public static string Version(string runsc)
    {
        var first = Run(runsc, ["--version"]).Output.Split('\n')[0].Trim();
        return first.Length > 0 ? first : "version unknown";
    }

    /// <summary>A real, minimal gVisor sandbox: proves ptrace/namespaces/mounts are allowed here (in containers they often are not).</summary>
    private static ProbeCheck SmokeTest(GvisorOptions options)
    {
        var root = Path.Combine(Path.GetTempPath(), "warden-runsc-probe-" + Environment.ProcessId);
        try
        {
            var (code, output) = Run(options.RunscPath, ["--root", root, "--network=none", "--platform=" + ChoosePlatform(options), "do", "/usr/bin/true"], 30_000);
            return code == 0
                ? new("sandbox smoke test", true, "runsc started a sandbox")
                : new("sandbox smoke test", false, $"runsc do failed ({code}): {output.Trim()}",
                    "in Docker: --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt label=type:container_engine_t " +
                    "--mount type=bind,source=/proc,target=/proc2,readonly=false,bind-recursive=disabled; in Kubernetes: seccompProfile and appArmorProfile " +
                    "type Unconfined, seLinuxOptions.type container_engine_t, and a hostPath volume of /proc mounted at /proc2");
        }
        finally
        {
            try { Directory.Delete(root, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static (int Code, string Output) Run(string file, string[] args, int timeoutMs = 10_000)
    {
        try
        {
            var start = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in args) start.ArgumentList.Add(a);
            using var p = Process.Start(start)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeoutMs)) { p.Kill(true); return (-1, "timed out"); }
            return (p.ExitCode, stdout.Result + stderr.Result);
        }
        catch (Exception e) when (e is IOException or System.ComponentModel.Win32Exception)
        {
            return (-1, e.Message);
        }
    }
}
