using System.ComponentModel.DataAnnotations;

namespace Warden.Core.Terminals;

/// <summary>What happens when a user's files exceed their quota (safe-code-execution's MAX_FILES_PER_USER / MAX_MEGABYTES_PER_USER).</summary>
public enum QuotaMode
{
    /// <summary>Writes that would exceed it are refused with a clear error; commands that exceed it are stopped.</summary>
    Reject,

    /// <summary>The user's oldest files (by modification time) are deleted to make room, as safe-code-execution does.</summary>
    Evict,
}

/// <summary>What a user's home is: always a filesystem whose size (and file count) the kernel bounds.</summary>
public enum HomeStorage
{
    /// <summary><see cref="Image"/> where loop devices and mke2fs work on this host, else <see cref="Tmpfs"/> (with a warning).</summary>
    Auto,

    /// <summary>A persistent ext4 image per user, loop-mounted at the home; terminals are refused where that cannot work.</summary>
    Image,

    /// <summary>A size-capped tmpfs per user: bounded like an image, but its content is gone when the sandbox stops.</summary>
    Tmpfs,
}

/// <summary>
/// Configuration section <c>Warden:Terminal</c>: the per-user terminals behind the Open Terminal API. Each user gets
/// one long-lived sandbox (started on first use, removed when idle) with a persistent home under their own host uid.
/// </summary>
public sealed class TerminalOptions
{
    public const string Section = "Warden:Terminal";

    /// <summary>Where the user's home appears inside their sandbox (also HOME and the default working directory).</summary>
    [Required] public string HomePath { get; set; } = "/home/user";

    /// <summary>Users whose sandboxes may be alive at once; more get 503.</summary>
    [Range(1, 100000)] public int MaxUsers { get; set; } = 32;

    /// <summary>Users one stored API key may have terminal sandboxes for at once (the operator's own tenant: <see cref="MaxUsers"/> alone).</summary>
    [Range(1, 100000)] public int MaxUsersPerKey { get; set; } = 16;

    /// <summary>A user's sandbox with no request and no running command for this long is stopped (the home stays).</summary>
    [Range(1, 7 * 86400)] public double IdleTimeoutSeconds { get; set; } = 900;

    /// <summary>Memory of one user's sandbox, all their commands together (cgroup, no swap).</summary>
    [Range(32, 1048576)] public int MemoryMb { get; set; } = 1024;

    /// <summary>Processes and threads of one user's sandbox (cgroup pids).</summary>
    [Range(8, 65536)] public int MaxProcesses { get; set; } = 256;

    /// <summary>Commands one user may have running at once; starting another is refused.</summary>
    [Range(1, 1000)] public int MaxRunningCommands { get; set; } = 8;

    /// <summary>Longest a command may run (in the background or not) before it is killed.</summary>
    [Range(1, 7 * 86400)] public double MaxCommandSeconds { get; set; } = 3600;

    /// <summary>Output kept per command; beyond it the oldest half is dropped (open-terminal's log rotation).</summary>
    [Range(4096, 1L << 32)] public long MaxLogBytes { get; set; } = 4 << 20;

    /// <summary>How long a finished command's output stays retrievable.</summary>
    [Range(1, 86400)] public double FinishedRetentionSeconds { get; set; } = 300;

    /// <summary>Largest file read, viewed or uploaded through the API.</summary>
    [Range(1024, 1L << 32)] public long MaxFileBytes { get; set; } = 32 << 20;

    /// <summary>First host uid of the per-user range; must not overlap Warden:SandboxUidBase's pool range.</summary>
    [Range(1000, int.MaxValue)] public int UserUidBase { get; set; } = 400000;

    [Range(1, 1 << 24)] public int UserUidCount { get; set; } = 100000;

    /// <summary>Newly created files one command may leave behind; the excess (newest first) is removed. 0 = no limit.</summary>
    [Range(0, int.MaxValue)] public int MaxFilesPerExecution { get; set; } = 1000;

    /// <summary>Files (and directories) one user may keep in their home; the kernel enforces it (inodes). 0 = no limit.</summary>
    [Range(0, int.MaxValue)] public int MaxFilesPerUser { get; set; } = 10000;

    /// <summary>Megabytes one user may keep in their home: the size of their home's filesystem, so the kernel enforces it.</summary>
    [Range(1, 1 << 24, ErrorMessage = "Warden:Terminal:MaxMegabytesPerUser must be between 1 and 16777216: a user's home is a filesystem of that size (there is no unlimited home).")]
    public int MaxMegabytesPerUser { get; set; } = 1024;

    /// <summary>What users' homes are (see <see cref="Terminals.HomeStorage"/>).</summary>
    public HomeStorage HomeStorage { get; set; } = HomeStorage.Auto;

    /// <summary>What exceeding a per-user quota does: refuse (Reject) or evict the oldest files (Evict).</summary>
    public QuotaMode QuotaMode { get; set; } = QuotaMode.Reject;

    /// <summary>
    /// Where users' directories (uid, home image, locks) live; empty = <c>{StateDirectory}/users</c>. Replicas that point
    /// this at one shared volume serve every user's files wherever the user lands, and a database lease (cluster mode)
    /// fences the home so two replicas never mount it at once.
    /// </summary>
    public string? HomesDir { get; set; }

    /// <summary>
    /// Network of users' sandboxes, only through Warden's egress proxy: <c>true</c> is the whole egress ceiling
    /// (WARDEN_EGRESS_ALLOW), a comma list of patterns a subset of it, empty or <c>false</c> none (the default).
    /// </summary>
    public string? Network { get; set; }

    /// <summary>What <see cref="Network"/> asks for.</summary>
    public Networking.NetworkSetting NetworkSetting => Networking.NetworkSetting.Parse(Network);

    /// <summary>Interactive terminals (open-terminal's ENABLE_TERMINAL): <c>/api/terminals</c> and its WebSocket, a PTY in the user's sandbox.</summary>
    public bool Interactive { get; set; } = true;

    /// <summary>Interactive terminals one user may have open at once (open-terminal: 16 per server); more get 429.</summary>
    [Range(1, 64)] public int MaxInteractivePerUser { get; set; } = 4;

    /// <summary>TERM of an interactive terminal's shell (open-terminal's OPEN_TERMINAL_TERM).</summary>
    [Required, RegularExpression("^[A-Za-z0-9._+-]{1,64}$")] public string Term { get; set; } = "xterm-256color";

    /// <summary>Output of one interactive terminal not yet delivered to its WebSocket before the shell is made to wait (back-pressure).</summary>
    [Range(4096, 16 << 20)] public int PtyWindowBytes { get; set; } = 256 << 10;

    /// <summary>
    /// Whether users may run servers in their sandbox and preview them (<c>/ports</c>, <c>/proxy</c>): inet sockets are
    /// then allowed by seccomp inside the sandbox's own loopback-only network namespace. Off: denied, as for executions.
    /// </summary>
    public bool Previews { get; set; } = true;

    /// <summary>
    /// A working directory a chat set (<c>POST /files/cwd</c>) is forgotten after this long without use, the chat then back in
    /// its own <c>~/chats/{chat}</c> (open-terminal's OPEN_TERMINAL_SESSION_CWD_TTL: 7 days, sliding).
    /// </summary>
    [Range(1, 365 * 86400)] public double SessionCwdTtlSeconds { get; set; } = 7 * 86400;

    /// <summary>Whether <c>/notebooks</c> is served (and <c>/api/config</c> says so): Warden's Python kernel in the user's sandbox.</summary>
    public bool Notebooks { get; set; } = true;

    /// <summary>Notebook sessions (kernels) one user may have open at once, all chats together; more get 429.</summary>
    [Range(1, 64)] public int MaxNotebooks { get; set; } = 4;

    /// <summary>A notebook cell running longer is interrupted (KeyboardInterrupt), and its kernel killed if it does not stop (nbclient's 120 s).</summary>
    [Range(1, 86400)] public double NotebookCellTimeoutSeconds { get; set; } = 120;

    /// <summary>A notebook session with no cell run for this long is stopped (open-terminal: 30 minutes).</summary>
    [Range(1, 7 * 86400)] public double NotebookIdleTimeoutSeconds { get; set; } = 1800;
}
