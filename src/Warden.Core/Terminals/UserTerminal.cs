using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Warden.Core.Admission;
using Warden.Core.Limits;
using Warden.Core.Sandboxing;
using Warden.Core.Workspaces;

namespace Warden.Core.Terminals;

/// <summary>
/// One user's terminal: their sandbox (started on first use, restarted if it died), the commands they started and
/// which chat started each, and each chat's working directory. Every operation runs inside this user's sandbox, so
/// there is no code path by which it could touch another user's files or processes.
/// </summary>
public sealed partial class UserTerminal : IAsyncDisposable
{
    private readonly BackendStartup _backend;
    private readonly UserHomes _homes;
    private readonly TerminalOptions _options;
    private readonly ResourceLimits _limits;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _startGate = new(1, 1);
    private readonly ConcurrentDictionary<string, string> _commandSessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ChatDirectory> _sessionDirectories = new(StringComparer.Ordinal);
    private TerminalAgent? _agent;
    private HomeLease? _home;
    private int _incarnation;
    private long _lastActivityTicks;
    private int _closed;

    /// <summary>Requests being served now (each keeps the terminal from being reaped as idle).</summary>
    private int _callsInFlight;

    private readonly MemoryBudget _budget;

    /// <summary>The same user's previous terminal while the reaper stops it: its sandbox holds the uid and home ours needs.</summary>
    private readonly Task? _predecessor;
    private MemoryLease? _memory;

    internal UserTerminal(UserWorkspace workspace, BackendStartup backend, UserHomes homes, TerminalOptions options, ResourceLimits limits,
        TimeProvider time, ILogger logger, MemoryBudget budget, Task? predecessor = null)
    {
        _predecessor = predecessor;
        _budget = budget;
        Workspace = workspace;
        _backend = backend;
        _homes = homes;
        _options = options;
        _limits = limits;
        _time = time;
        _logger = logger;
        Touch();
    }

    public UserWorkspace Workspace { get; }

    /// <summary>
    /// The terminal's network: each start of the user's sandbox gets its own egress namespace and a grant for the user,
    /// revoked when that sandbox stops. Null without network (Warden:Terminal:Network).
    /// </summary>
    internal Networking.LongLivedEgress? Egress { get; init; }

    /// <summary>No request and no running command for this long stops the sandbox (the server's, or its policy's).</summary>
    public TimeSpan IdleTimeout { get; init; }

    /// <summary>Variables a policy adds to the sandbox's environment (Warden's own names win over them).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    public string HomePath => _options.HomePath;

    public DateTimeOffset LastActivity => new(Interlocked.Read(ref _lastActivityTicks), TimeSpan.Zero);

    /// <summary>Whether the sandbox is up (false before first use and after it was reaped or died).</summary>
    public bool IsRunning => Volatile.Read(ref _agent) is { Gone.IsCompleted: false };

    /// <summary>Marks the terminal as used now (the manager also does when a request looks it up).</summary>
    internal void Touch() => Interlocked.Exchange(ref _lastActivityTicks, _time.GetUtcNow().UtcTicks);

    /// <summary>
    /// A request looks its terminal up before it runs an operation (an upload reads its form in between): if the idle
    /// reaper stopped the terminal meanwhile, the request is told to retry (503), and the retry gets a new terminal.
    /// </summary>
    private void ThrowIfClosed()
    {
        if (Volatile.Read(ref _closed) != 0)
            throw new TerminalException(TerminalFailure.SandboxUnavailable,
                "Your terminal sandbox was stopped after being idle while this request waited; retry it (your home is kept).");
    }

    /// <summary>A directory a chat set, and when the chat last used it (the expiry slides, as open-terminal's does).</summary>
    private sealed record ChatDirectory(string Path, long LastUsedTicks);

    /// <summary>
    /// A chat's working directory: the one it set within <see cref="TerminalOptions.SessionCwdTtlSeconds"/> of its last use,
    /// else <c>~/chats/{chat}</c> (created on first use); home without a chat.
    /// </summary>
    public string WorkingDirectory(string? sessionId)
    {
        if (sessionId is null) return HomePath;
        var key = SessionKey(sessionId);
        if (!_sessionDirectories.TryGetValue(key, out var set)) return DefaultDirectory(sessionId);
        var now = _time.GetUtcNow().UtcTicks;
        if (Expired(set, now))
        {
            _sessionDirectories.TryRemove(KeyValuePair.Create(key, set));
            return DefaultDirectory(sessionId);
        }
        _sessionDirectories.TryUpdate(key, set with { LastUsedTicks = now }, set);
        return set.Path;
    }

    private bool Expired(ChatDirectory set, long now) => now - set.LastUsedTicks > TimeSpan.FromSeconds(_options.SessionCwdTtlSeconds).Ticks;

    private string DefaultDirectory(string sessionId) => $"{HomePath}/chats/{SessionKey(sessionId)}";

    /// <summary>Chat ids are caller text: a safe directory name is kept as is, anything else becomes a hash.</summary>
    private static string SessionKey(string sessionId) =>
        sessionId.Length is > 0 and <= 64 && sessionId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
            ? sessionId
            : Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(sessionId)))[..32];

    /// <summary>Sets a chat's working directory (it must exist inside the home); returns the resolved path.</summary>
    public async Task<string> SetWorkingDirectoryAsync(string? sessionId, string path, CancellationToken cancellationToken)
    {
        var result = await CallAsync(sessionId, "stat_dir", new JsonObject { ["path"] = path }, cancellationToken).ConfigureAwait(false);
        var resolved = result.GetProperty("path").GetString()!;
        if (!result.GetProperty("is_dir").GetBoolean()) throw new TerminalException(TerminalFailure.NotFound, "Directory not found");
        if (sessionId is null) return resolved;
        // Chat ids are caller text: directories of chats not used within the TTL are forgotten, so the map stays bounded by use.
        var now = _time.GetUtcNow().UtcTicks;
        foreach (var entry in _sessionDirectories)
            if (Expired(entry.Value, now)) _sessionDirectories.TryRemove(entry);
        _sessionDirectories[SessionKey(sessionId)] = new ChatDirectory(resolved, now);
        return resolved;
    }

    /// <summary>Starts a command in the background (open-terminal's run_command) and waits up to <paramref name="wait"/> seconds for it.</summary>
    public async Task<JsonElement> RunAsync(string? sessionId, string command, string? directory, IReadOnlyDictionary<string, string>? environment,
        double? wait, int? tail, CancellationToken cancellationToken)
    {
        var id = _time.GetUtcNow().ToString("yyyyMMdd-HHmmss-", CultureInfo.InvariantCulture) + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        var env = new JsonObject();
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) env[k] = v;
        _commandSessions[id] = sessionId ?? "";
        try
        {
            return await CallAsync(sessionId, "start", new JsonObject
            {
                ["process"] = id, ["command"] = command, ["dir"] = directory, ["env"] = env, ["wait"] = wait, ["tail"] = tail,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (TerminalException)
        {
            _commandSessions.TryRemove(id, out _);
            throw;
        }
    }

    /// <summary>A command's status and output from <paramref name="offset"/>; only the chat that started it sees it (as open-terminal does).</summary>
    public Task<JsonElement> StatusAsync(string? sessionId, string processId, double? wait, int offset, int? tail, CancellationToken cancellationToken) =>
        CallAsync(sessionId, "status", Owned(sessionId, processId, new JsonObject { ["wait"] = wait, ["offset"] = offset, ["tail"] = tail }), cancellationToken);

    public Task<JsonElement> InputAsync(string? sessionId, string processId, string input, CancellationToken cancellationToken) =>
        CallAsync(sessionId, "input", Owned(sessionId, processId, new JsonObject { ["input"] = input }), cancellationToken);

    public Task<JsonElement> KillAsync(string? sessionId, string processId, bool force, CancellationToken cancellationToken) =>
        CallAsync(sessionId, "kill", Owned(sessionId, processId, new JsonObject { ["force"] = force }), cancellationToken);

    /// <summary>The commands this chat started that the agent still knows (running, or finished within the retention time).</summary>
    public async Task<IReadOnlyList<JsonElement>> ListAsync(string? sessionId, CancellationToken cancellationToken)
    {
        if (!IsRunning) return [];
        var all = await CallAsync(sessionId, "list", [], cancellationToken).ConfigureAwait(false);
        return all.EnumerateArray()
            .Where(p => _commandSessions.TryGetValue(p.GetProperty("id").GetString()!, out var owner) && owner == (sessionId ?? ""))
            .ToList();
    }

    private JsonObject Owned(string? sessionId, string processId, JsonObject arguments)
    {
        if (!_commandSessions.TryGetValue(processId, out var owner) || owner != (sessionId ?? ""))
            throw new TerminalException(TerminalFailure.ProcessNotFound, "Process not found");
        arguments["process"] = processId;
        return arguments;
    }

    /// <summary>Whether any command is still running (an idle sandbox with running commands is not reaped).</summary>
    internal async Task<bool> HasRunningCommandsAsync(CancellationToken cancellationToken)
    {
        if (!IsRunning) return false;
        if (Volatile.Read(ref _callsInFlight) > 0) return true;
        var all = await CallAsync(null, "list", [], cancellationToken, touch: false).ConfigureAwait(false);
        return all.EnumerateArray().Any(p => p.GetProperty("status").GetString() == "running");
    }

    /// <summary>
    /// One file or process operation inside the user's sandbox (see <c>Agent/warden_terminal.py</c> for the operations).
    /// Paths are resolved against the chat's working directory by the agent, which refuses anything outside the home.
    /// </summary>
    public Task<JsonElement> CallAsync(string? sessionId, string op, JsonObject arguments, CancellationToken cancellationToken, bool touch = true) =>
        CallAsync(sessionId, op, arguments, fromHome: false, touch, cancellationToken);

    /// <summary>
    /// An operation of the UI's file browser (open-terminal's /files/view, upload, mkdir, delete, move): relative paths are
    /// resolved against the home, never the chat's working directory, as open-terminal resolves them.
    /// </summary>
    public Task<JsonElement> CallFromHomeAsync(string? sessionId, string op, JsonObject arguments, CancellationToken cancellationToken) =>
        CallAsync(sessionId, op, arguments, fromHome: true, touch: true, cancellationToken);

    private async Task<JsonElement> CallAsync(string? sessionId, string op, JsonObject arguments, bool fromHome, bool touch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        ThrowIfClosed();
        if (!touch) return await CallAgentAsync(sessionId, op, arguments, fromHome, cancellationToken).ConfigureAwait(false);
        // A request in flight is activity however long it takes (a sandbox starting slowly, a long notebook cell, a status
        // wait): the reaper leaves the terminal alone until it is answered.
        Interlocked.Increment(ref _callsInFlight);
        Touch();
        try { return await CallAgentAsync(sessionId, op, arguments, fromHome, cancellationToken).ConfigureAwait(false); }
        finally
        {
            Touch();
            Interlocked.Decrement(ref _callsInFlight);
        }
    }

    private async Task<JsonElement> CallAgentAsync(string? sessionId, string op, JsonObject arguments, bool fromHome, CancellationToken cancellationToken)
    {
        var agent = await EnsureStartedAsync(cancellationToken).ConfigureAwait(false);
        var directory = fromHome ? HomePath : WorkingDirectory(sessionId);
        arguments["cwd"] = directory;
        arguments["make_cwd"] = !fromHome && sessionId is not null && directory == DefaultDirectory(sessionId);
        arguments["max_bytes"] = _options.MaxFileBytes;
        return await agent.CallAsync(op, arguments, cancellationToken).ConfigureAwait(false);
    }

    private async Task<TerminalAgent> EnsureStartedAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _agent) is { Gone.IsCompleted: false } running) return running;
        await _startGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            if (_agent is { Gone.IsCompleted: false } current) return current;
            if (_agent is { } dead)
            {
                Log.SandboxLost(_logger, Workspace.Key);
                _agent = null;
                _commandSessions.Clear();
                _interactive.Clear();
                await dead.DisposeAsync().ConfigureAwait(false);
            }
            if (_predecessor is { IsCompleted: false } predecessor) await predecessor.WaitAsync(cancellationToken).ConfigureAwait(false);
            // The sandbox's memory limit counts against the budget while a sandbox runs (not while the user is merely known).
            _memory ??= _budget.Reserve(_limits.MemoryBytes, "a terminal sandbox");
            // The home is a filesystem of the quota's size, mounted before the sandbox binds it and held until it stops.
            _home ??= await AcquireHomeAsync(cancellationToken).ConfigureAwait(false);
            var name = $"term-{Workspace.Key[..12]}-{++_incarnation}";
            var command = AgentCommand() with { Egress = Egress?.GrantFor(Workspace.Owner.ToString(), name) };
            // Previews: inet sockets inside the sandbox's own namespace (loopback only, or the egress namespace's lo).
            var limits = _options.Previews ? _limits with { LoopbackSockets = true } : _limits;
            var spec = new SessionSpec(name, command, limits, TerminalAgentFiles.SupportFiles,
                TerminalAgentFiles.SupportDirectory, new PersistentWorkspace(Workspace.HostHome, Workspace.Uid, HomePath, Workspace.SharedGid));
            TerminalAgent agent;
            try
            {
                var backend = await _backend.SessionsAsync(cancellationToken).ConfigureAwait(false);
                agent = await TerminalAgent.StartAsync(backend, spec, _options.MaxFileBytes, TimeSpan.FromSeconds(15), cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                // Nothing runs: give the memory back (the home stays mounted until the terminal stops, as after a crash).
                Interlocked.Exchange(ref _memory, null)?.Dispose();
                throw;
            }
            Volatile.Write(ref _agent, agent);
            Log.SandboxStarted(_logger, Workspace.Key, Workspace.Uid);
            return agent;
        }
        finally
        {
            _startGate.Release();
        }
    }

    private async Task<HomeLease> AcquireHomeAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _homes.AcquireAsync(Workspace, cancellationToken).ConfigureAwait(false);
        }
        catch (HomeStorageException e)
        {
            throw new TerminalException(TerminalFailure.SandboxUnavailable, "The user's home is unavailable: " + e.Message);
        }
    }

    private SandboxCommand AgentCommand()
    {
        var env = new Dictionary<string, string>(Environment, StringComparer.Ordinal);
        foreach (var (name, value) in new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = "/usr/local/bin:/usr/bin:/bin",
            ["HOME"] = HomePath,
            ["USER"] = "user",
            ["LOGNAME"] = "user",
            ["SHELL"] = "/bin/bash",
            ["LANG"] = "C.UTF-8",
            ["LC_ALL"] = "C.UTF-8",
            ["TMPDIR"] = "/tmp",
            ["TERM"] = "dumb",
            ["WARDEN_TERMINAL_MAX_RUNNING"] = Str(_options.MaxRunningCommands),
            ["WARDEN_TERMINAL_MAX_COMMAND_SECONDS"] = Str(_options.MaxCommandSeconds),
            ["WARDEN_TERMINAL_MAX_LOG_BYTES"] = Str(_options.MaxLogBytes),
            ["WARDEN_TERMINAL_RETENTION_SECONDS"] = Str(_options.FinishedRetentionSeconds),
            ["WARDEN_TERMINAL_MAX_FILES_PER_EXECUTION"] = Str(_options.MaxFilesPerExecution),
            ["WARDEN_TERMINAL_MAX_FILES_PER_USER"] = Str(_options.MaxFilesPerUser),
            ["WARDEN_TERMINAL_MAX_BYTES_PER_USER"] = Str((long)HomeMegabytes << 20),
            ["WARDEN_TERMINAL_QUOTA_MODE"] = _options.QuotaMode.ToString().ToLowerInvariant(),
            ["WARDEN_TERMINAL_PTY_TERM"] = _options.Term,
            ["WARDEN_TERMINAL_MAX_PTYS"] = Str(_options.MaxInteractivePerUser),
            ["WARDEN_TERMINAL_PTY_WINDOW"] = Str(_options.PtyWindowBytes),
            // Evict mode frees this much before each command: room for one file of the largest size a command may write
            // and for its share of new files (the kernel stops a command at the quota itself; nothing is evicted meanwhile).
            ["WARDEN_TERMINAL_EVICT_FREE_BYTES"] = Str(Math.Min(_limits.MaxFileBytes, ((long)HomeMegabytes << 20) / 4)),
            ["WARDEN_TERMINAL_MAX_NOTEBOOKS"] = Str(_options.MaxNotebooks),
            ["WARDEN_TERMINAL_NOTEBOOK_CELL_SECONDS"] = Str(_options.NotebookCellTimeoutSeconds),
            ["WARDEN_TERMINAL_NOTEBOOK_IDLE_SECONDS"] = Str(_options.NotebookIdleTimeoutSeconds),
            ["WARDEN_TERMINAL_EVICT_FREE_FILES"] = Str(_options.MaxFilesPerUser == 0 ? 0 : Math.Min(Math.Max(1, _options.MaxFilesPerExecution), Math.Max(1, _options.MaxFilesPerUser / 4))),
        })
        {
            env[name] = value;
        }
        // A shared home's files are group-writable by default, so the policy's other users can change them (setgid keeps the group).
        if (Workspace.SharedGid is not null) env["WARDEN_TERMINAL_UMASK"] = "002";
        return new SandboxCommand(["/usr/bin/python3", "-I", "-u", $"{TerminalAgentFiles.SupportDirectory}/{TerminalAgentFiles.AgentFile}"], env, []);
    }

    private int HomeMegabytes => Workspace.HomeMegabytes ?? _options.MaxMegabytesPerUser;

    private static string Str(double value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Stops the sandbox: every command of the user is killed; the home stays.</summary>
    internal async Task StopAsync()
    {
        await _startGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Interlocked.Exchange(ref _agent, null) is { } agent) await agent.DisposeAsync().ConfigureAwait(false);
            _commandSessions.Clear();
            // The agent took its terminals' shells down with it (and the sandbox's end kills whatever was left).
            _interactive.Clear();
            // After the sandbox: nothing of it uses the home any more, so it unmounts (an image's loop device unbinds).
            if (Interlocked.Exchange(ref _home, null) is { } home) await home.DisposeAsync().ConfigureAwait(false);
            Interlocked.Exchange(ref _memory, null)?.Dispose();
        }
        finally
        {
            _startGate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        await StopAsync().ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.TerminalStarted, LogLevel.Information, "Terminal sandbox for user {UserKey} started (uid {Uid})")]
        public static partial void SandboxStarted(ILogger logger, string userKey, int uid);

        [LoggerMessage(Diagnostics.EventIds.TerminalLost, LogLevel.Warning, "Terminal sandbox for user {UserKey} had died; starting a new one")]
        public static partial void SandboxLost(ILogger logger, string userKey);
    }
}
