using System.ComponentModel.DataAnnotations;

namespace Warden.Core.Sandboxing.Gvisor;

/// <summary>Configuration section <c>Warden:Gvisor</c>.</summary>
public sealed class GvisorOptions
{
    public const string Section = "Warden:Gvisor";

    public string RunscPath { get; set; } = "/usr/bin/runsc";

    /// <summary><c>auto</c> (systrap, else ptrace; never kvm, which hangs on paravirtual /dev/kvm), or a platform name.</summary>
    [Required] public string Platform { get; set; } = "auto";

    /// <summary>gVisor's own processes (Sentry, gofer) live in the sandbox's memory cgroup too; this much is added on top of the program's limit.</summary>
    [Range(0, 4096)] public int MemoryOverheadMb { get; set; } = 64;

    /// <summary>The host pids cgroup counts the Sentry's threads, not guest processes; below ~1000 gVisor cannot boot or crashes under load.
    /// Guest processes are limited with RLIMIT_NPROC inside the sandbox instead.</summary>
    [Range(256, 1 << 20)] public int HostPidsLimit { get; set; } = 1024;

    /// <summary>When set, runsc writes its debug logs here (one file per command): for diagnosing a sandbox that fails to start.</summary>
    public string? DebugLogDirectory { get; set; }
}
