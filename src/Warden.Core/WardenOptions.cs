using System.ComponentModel.DataAnnotations;

namespace Warden.Core;

/// <summary>Configuration section <c>Warden</c>: the engine's own settings (limits live in <c>Warden:Limits</c>).</summary>
public sealed class WardenOptions
{
    public const string Section = "Warden";

    /// <summary>Isolation backend by name (<c>bwrap</c>); <c>auto</c> picks the strongest one this host can run.</summary>
    [Required] public string Backend { get; set; } = "bwrap";

    /// <summary>Executions running at once; also the number of pre-started sandbox slots.</summary>
    [Range(1, 4096)] public int MaxConcurrent { get; set; } = Math.Max(2, Environment.ProcessorCount * 2);

    /// <summary>Executions allowed to wait for a slot; beyond that requests get 503 with Retry-After.</summary>
    [Range(0, 100000)] public int MaxQueue { get; set; } = 64;

    /// <summary>Where Warden keeps its state: slot mounts, seccomp programs, uid locks.</summary>
    public string StateDirectory { get; set; } = DefaultStateDirectory();

    /// <summary>An extra language catalog merged over the built-in one.</summary>
    public string? LanguagesFile { get; set; }

    /// <summary>Only these languages (names) are offered; empty = every installed one.</summary>
    public List<string> EnabledLanguages { get; set; } = [];

    /// <summary>Languages (names or aliases) never offered, even when installed and enabled.</summary>
    public List<string> DisabledLanguages { get; set; } = [];

    /// <summary>Start even when cgroups cannot be used (no memory/pids/CPU limits): reported by doctor and health.</summary>
    public bool AllowDegraded { get; set; }

    /// <summary>First host uid of the range sandboxes run under (one uid per concurrent sandbox).</summary>
    [Range(1000, int.MaxValue)] public int SandboxUidBase { get; set; } = 200000;

    [Range(1, 1 << 20)] public int SandboxUidCount { get; set; } = 65536;

    /// <summary>
    /// Memory the limits of all long-lived sandboxes (sessions, kernels, terminals, warm sandboxes) may promise together,
    /// MB; beyond it new ones get 503. 0: <see cref="Admission.MemoryBudget.DefaultShare"/> of the host's memory (or of
    /// Warden's own cgroup limit, when lower).
    /// </summary>
    [Range(0, int.MaxValue)] public int MemoryBudgetMb { get; set; }

    /// <summary>
    /// How long the result of the sandbox check (a tiny program started in a real sandbox) behind <c>/readyz</c> and
    /// health is reused before the next poll starts a new one.
    /// </summary>
    [Range(1, 86400)] public int SandboxCheckSeconds { get; set; } = 15;

    /// <summary>The helper that joins cgroups, drops privileges and execs the isolation tool; found next to the binaries when unset.</summary>
    public string? ExecHelperPath { get; set; }

    public static string DefaultStateDirectory() =>
        Environment.UserName == "root" || Interop.Libc.geteuid() == 0
            ? "/var/lib/warden"
            : Path.Combine(Environment.GetEnvironmentVariable("XDG_STATE_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state"), "warden");
}
