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
        new("Warden:Sessions:MaxSessions", "WARDEN_MAX_SESSIONS", "64", "Sessions (Jupyter kernels) alive at once; more get 503."),
        new("Warden:Sessions:MaxSessionsPerUser", "WARDEN_MAX_SESSIONS_PER_USER", "16", "Sessions one user may hold; Jupyter kernels all count as user 'jupyter'."),
        new("Warden:Sessions:IdleTimeoutSeconds", "WARDEN_SESSION_IDLE_TIMEOUT", "600", "A session unused this long is deleted."),
        new("Warden:Sessions:Default:CellTimeoutSeconds", "WARDEN_CELL_TIMEOUT", "60", "Wall-clock limit of one cell; it is interrupted, then the kernel killed."),
        new("Warden:Sessions:Ceiling:CellTimeoutSeconds", "WARDEN_MAX_CELL_TIMEOUT", "600", "Largest cell timeout a request may ask for."),
        new("Warden:Sessions:Default:MemoryMb", "WARDEN_SESSION_MEMORY_MB", "512", "Memory of one session (cgroup)."),
        new("Warden:Sessions:Default:MaxOutputBytes", "WARDEN_CELL_OUTPUT_BYTES", "1048576", "Output one cell may produce; the rest is dropped and the cell interrupted."),
        new("Warden:DisabledLanguages", "WARDEN_DISABLED_LANGUAGES", "(none)", "Comma-separated languages never offered (seed 004: ENABLE_<LANGUAGE>=false)."),
        new("Warden:ShutdownGraceSeconds", "WARDEN_SHUTDOWN_GRACE", "30", "After SIGTERM, running executions may finish this long; then they are killed."),
        new("Warden:Database:ConnectionString", "WARDEN_DATABASE_URL", "(SQLite in the state dir)", "Keys and history: postgres://user:pass@host/db or an Npgsql string; empty = {StateDirectory}/warden.db."),
        new("Warden:History:Enabled", "WARDEN_HISTORY_ENABLED", "true", "Record executions in the database (GET /api/v1/executions)."),
        new("Warden:History:RetentionDays", "WARDEN_HISTORY_RETENTION_DAYS", "30", "History rows older than this are deleted."),
        new("Warden:History:MaxRows", "WARDEN_HISTORY_MAX_ROWS", "1000000", "At most this many history rows are kept."),
        new("Warden:History:RetentionIntervalSeconds", "WARDEN_HISTORY_RETENTION_INTERVAL", "300", "How often retention runs."),
        new("Warden:History:QueueCapacity", "WARDEN_HISTORY_QUEUE", "10000", "Records waiting for the background writer; when full, requests wait."),
        new("Warden:Audit:Enabled", "WARDEN_AUDIT_ENABLED", "true", "Write the JSON-lines audit log (seed 004: ENABLE_AUDIT_LOG)."),
        new("Warden:Audit:Path", "WARDEN_AUDIT_LOG", "{StateDirectory}/audit.log", "The audit log file."),
        new("Warden:Audit:IncludeCode", "WARDEN_AUDIT_INCLUDE_CODE", "false", "Put the submitted code in audit lines (else only SHA-256 and size)."),
        new("Warden:RateLimits:PerMinute", "WARDEN_RATE_LIMIT_PER_MINUTE", "0 (off)", "Executions per minute per caller (user, else key, else IP); seed 004: RATE_LIMIT_PER_MINUTE."),
        new("Warden:RateLimits:Burst", "WARDEN_RATE_LIMIT_BURST", "10", "Executions a caller may start back to back; seed 004: RATE_LIMIT_BURST."),
        new("Warden:RateLimits:PerKeyPerMinute", "WARDEN_RATE_LIMIT_PER_KEY_PER_MINUTE", "0 (off)", "Executions per minute per API key, all its users together."),
        new("Warden:RateLimits:PerKeyBurst", "WARDEN_RATE_LIMIT_PER_KEY_BURST", "100", "Burst of the per-key limit."),
        new("Warden:RateLimits:MaxConcurrentPerUser", "WARDEN_MAX_CONCURRENT_PER_USER", "0 (off)", "Executions one caller may have running or queued; more get 429."),
        new("Warden:Metrics:Anonymous", "WARDEN_METRICS_ANONYMOUS", "false", "Serve /metrics without a key (otherwise an admin key, when auth is on)."),
        new("Warden:Jupyter:Password", "WARDEN_JUPYTER_PASSWORD", "(none)", "Enables Jupyter password login (/login + _xsrf) for the Jupyter API."),
    ];
}
