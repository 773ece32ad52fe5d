namespace Warden.Core.Configuration;

/// <summary>One setting: its configuration key, its flat environment variable, and what it does.</summary>
public sealed record Setting(string Key, string EnvironmentVariable, string Default, string Description);

/// <summary>
/// Every documented setting. Each has a config-file key and a flat <c>WARDEN_*</c> environment variable; any other key
/// can still be set as <c>WARDEN_SECTION__KEY</c> (e.g. <c>WARDEN_LIMITS__CEILING__MEMORYMB</c>).
/// </summary>
public static class SettingsCatalog
{
    public static readonly IReadOnlyList<Setting> All =
    [
        new("Warden:Backend", "WARDEN_BACKEND", "bwrap", "Isolation backend: bwrap, or auto (strongest that works here)."),
        new("Warden:Urls", "WARDEN_URLS", "http://127.0.0.1:8090", "Addresses the HTTP server listens on."),
        new("Warden:ApiKey", "WARDEN_API_KEY", "(none)", "Bearer key required on every API call when set."),
        new("Warden:AllowUnauthenticatedRemote", "WARDEN_ALLOW_UNAUTHENTICATED_REMOTE", "false", "Allow binding a non-loopback address without an API key."),
        new("Warden:MaxConcurrent", "WARDEN_MAX_CONCURRENT", "2 × cores", "Executions running at once (= pre-started sandbox slots)."),
        new("Warden:MaxQueue", "WARDEN_MAX_QUEUE", "64", "Executions that may wait for a slot; more get 503 + Retry-After."),
        new("Warden:StateDirectory", "WARDEN_STATE_DIR", "/var/lib/warden", "Slot mounts, seccomp programs, uid locks."),
        new("Warden:AllowDegraded", "WARDEN_ALLOW_DEGRADED", "false", "Run without cgroup limits when cgroups are unusable (reported by health)."),
        new("Warden:SandboxUidBase", "WARDEN_SANDBOX_UID_BASE", "200000", "First host uid for sandboxes (one per concurrent sandbox)."),
        new("Warden:SandboxUidCount", "WARDEN_SANDBOX_UID_COUNT", "65536", "Size of the sandbox uid range."),
        new("Warden:LanguagesFile", "WARDEN_LANGUAGES_FILE", "(none)", "Extra language catalog (JSON) merged over the built-in one."),
        new("Warden:EnabledLanguages", "WARDEN_ENABLED_LANGUAGES", "(all installed)", "Comma-separated languages to offer."),
        new("Warden:ExecHelperPath", "WARDEN_EXEC_HELPER", "(next to binaries)", "Path of the warden-exec helper."),
        new("Warden:Bubblewrap:BwrapPath", "WARDEN_BWRAP_PATH", "/usr/bin/bwrap", "bubblewrap binary."),
        new("Warden:Limits:Default:TimeoutSeconds", "WARDEN_DEFAULT_TIMEOUT", "10", "Wall-clock limit when a request gives none."),
        new("Warden:Limits:Ceiling:TimeoutSeconds", "WARDEN_MAX_TIMEOUT", "60", "Largest wall-clock limit a request may ask for."),
        new("Warden:Limits:Default:CpuTimeSeconds", "WARDEN_DEFAULT_CPU_TIME", "0 (= timeout)", "CPU-time limit (RLIMIT_CPU) when a request gives none."),
        new("Warden:Limits:Ceiling:CpuTimeSeconds", "WARDEN_MAX_CPU_TIME", "60", "Largest CPU-time limit."),
        new("Warden:Limits:Default:MemoryMb", "WARDEN_DEFAULT_MEMORY_MB", "256", "Memory limit (cgroup, no swap; includes /tmp and workspace)."),
        new("Warden:Limits:Ceiling:MemoryMb", "WARDEN_MAX_MEMORY_MB", "2048", "Largest memory limit."),
        new("Warden:Limits:Default:MaxProcesses", "WARDEN_DEFAULT_MAX_PROCESSES", "64", "Process/thread limit (cgroup pids)."),
        new("Warden:Limits:Ceiling:MaxProcesses", "WARDEN_MAX_PROCESSES", "512", "Largest process limit."),
        new("Warden:Limits:Default:MaxOutputBytes", "WARDEN_DEFAULT_OUTPUT_BYTES", "1048576", "Cap per output stream; more kills the run (output_limit)."),
        new("Warden:Limits:Ceiling:MaxOutputBytes", "WARDEN_MAX_OUTPUT_BYTES", "16777216", "Largest output cap."),
        new("Warden:Limits:Cpus", "WARDEN_CPUS", "1", "CPU bandwidth per sandbox, in cores (cgroup quota)."),
        new("Warden:Limits:MaxFileSizeMb", "WARDEN_MAX_FILE_SIZE_MB", "64", "Largest file a sandbox may write (RLIMIT_FSIZE)."),
        new("Warden:Limits:MaxOpenFiles", "WARDEN_MAX_OPEN_FILES", "256", "RLIMIT_NOFILE."),
        new("Warden:Limits:TmpMb", "WARDEN_TMP_MB", "64", "Size of the sandbox's /tmp (tmpfs)."),
        new("Warden:Limits:WorkspaceMb", "WARDEN_WORKSPACE_MB", "64", "Size of the writable workspace (tmpfs)."),
        new("Warden:Limits:AllowNetwork", "WARDEN_ALLOW_NETWORK", "false", "Whether a request may ask for network access."),
        new("Warden:Limits:MaxCodeBytes", "WARDEN_MAX_CODE_BYTES", "1048576", "Largest accepted source; more gets 413."),
        new("Warden:Limits:MaxStdinBytes", "WARDEN_MAX_STDIN_BYTES", "1048576", "Largest accepted stdin; more gets 413."),
        new("Warden:Pool:Enabled", "WARDEN_POOL", "true", "Warm pool: python/javascript/bash run in sandboxes started ahead, interpreter loaded."),
        new("Warden:Pool:Size", "WARDEN_POOL_SIZE", "8", "Warm sandboxes kept ready across languages (each is one idle interpreter)."),
        new("Warden:Pool:Targets:python", "WARDEN_POOL_PYTHON", "4", "Warm python sandboxes while no demand is known (likewise :javascript 2, :bash 2)."),
        new("Warden:Pool:Adaptive", "WARDEN_POOL_ADAPTIVE", "true", "Share the pool by the languages requested in the last DemandWindowSeconds."),
        new("Warden:Pool:MinPerLanguage", "WARDEN_POOL_MIN_PER_LANGUAGE", "1", "With Adaptive: warm sandboxes each configured language keeps."),
        new("Warden:Pool:DemandWindowSeconds", "WARDEN_POOL_DEMAND_WINDOW", "60", "How far back requests count for the adaptive split."),
        new("Warden:Pool:MaxParallelStarts", "WARDEN_POOL_PARALLEL_STARTS", "2", "Warm sandboxes being started at once (each costs an interpreter start-up)."),
        new("Warden:Sessions:MaxSessions", "WARDEN_MAX_SESSIONS", "64", "Sessions (Jupyter kernels) alive at once; more get 503."),
        new("Warden:Sessions:MaxSessionsPerUser", "WARDEN_MAX_SESSIONS_PER_USER", "16", "Sessions one user may hold; Jupyter kernels all count as user 'jupyter'."),
        new("Warden:Sessions:IdleTimeoutSeconds", "WARDEN_SESSION_IDLE_TIMEOUT", "600", "A session unused this long is deleted."),
        new("Warden:Sessions:Default:CellTimeoutSeconds", "WARDEN_CELL_TIMEOUT", "60", "Wall-clock limit of one cell; it is interrupted, then the kernel killed."),
        new("Warden:Sessions:Ceiling:CellTimeoutSeconds", "WARDEN_MAX_CELL_TIMEOUT", "600", "Largest cell timeout a request may ask for."),
        new("Warden:Sessions:Default:MemoryMb", "WARDEN_SESSION_MEMORY_MB", "512", "Memory of one session (cgroup)."),
        new("Warden:Sessions:Default:MaxOutputBytes", "WARDEN_CELL_OUTPUT_BYTES", "1048576", "Output one cell may produce; the rest is dropped and the cell interrupted."),
        new("Warden:Jupyter:Password", "WARDEN_JUPYTER_PASSWORD", "(none)", "Enables Jupyter password login (/login + _xsrf) for the Jupyter API."),
    ];
}
