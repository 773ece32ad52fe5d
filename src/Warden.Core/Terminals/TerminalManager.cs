using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Core.Sandboxing;
using Warden.Core.Workspaces;

namespace Warden.Core.Terminals;

/// <summary>
/// Every user's terminal: looked up by the user id the identity layer established, capped at
/// <see cref="TerminalOptions.MaxUsers"/> live sandboxes, and reaped when idle (no request and no running command for
/// <see cref="TerminalOptions.IdleTimeoutSeconds"/>). Reaping stops the sandbox; the user's home stays for next time.
/// </summary>
public sealed partial class TerminalManager : IAsyncDisposable
{
    private readonly BackendSelector _backends;
    private readonly UserWorkspaces _workspaces;
    private readonly UserHomes _homes;
    private readonly TerminalOptions _options;
    private readonly ResourceLimits _limits;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, UserTerminal> _terminals = new(StringComparer.Ordinal);
    private readonly Lock _admission = new();
    private readonly ITimer _reaper;
    private int _reaping;
    private int _disposed;

    public TerminalManager(BackendSelector backends, UserWorkspaces workspaces, UserHomes homes, LimitPolicy policy, IOptions<TerminalOptions> options,
        TimeProvider time, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        _backends = backends;
        _workspaces = workspaces;
        _homes = homes;
        _options = options.Value;
        _limits = policy.ResolveTerminal(_options);
        _time = time;
        _loggers = loggers;
        _logger = loggers.CreateLogger<TerminalManager>();
        var period = TimeSpan.FromSeconds(Math.Clamp(_options.IdleTimeoutSeconds / 4, 0.5, 30));
        _reaper = time.CreateTimer(_ => _ = ReapIdleAsync(CancellationToken.None), null, period, period);
    }

    public TerminalOptions Options => _options;

    /// <summary>Users whose sandboxes are up now.</summary>
    public int RunningCount => _terminals.Values.Count(t => t.IsRunning);

    /// <summary>The user's terminal (their sandbox starts on its first operation).</summary>
    /// <exception cref="CapacityExceededException">The server already has the most users' sandboxes it may.</exception>
    public UserTerminal Get(string userId)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_terminals.TryGetValue(userId, out var existing)) return existing;
        lock (_admission)
        {
            if (_terminals.TryGetValue(userId, out existing)) return existing;
            if (_terminals.Count >= _options.MaxUsers)
                throw new CapacityExceededException($"The server already runs terminals for its maximum of {_options.MaxUsers} users " +
                    "(Warden:Terminal:MaxUsers); retry when one has been idle long enough to be stopped.", TimeSpan.FromSeconds(30));
            var terminal = new UserTerminal(_workspaces.Open(userId), _backends.Selected, _homes, _options, _limits, _time, _loggers.CreateLogger<UserTerminal>());
            _terminals[userId] = terminal;
            return terminal;
        }
    }

    /// <summary>Stops the sandboxes of users idle for the timeout with no command running; their homes stay.</summary>
    public async Task<int> ReapIdleAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _reaping, 1) != 0) return 0;
        try
        {
            var cutoff = _time.GetUtcNow() - TimeSpan.FromSeconds(_options.IdleTimeoutSeconds);
            int reaped = 0;
            foreach (var (userId, terminal) in _terminals)
            {
                if (terminal.LastActivity > cutoff) continue;
                try
                {
                    if (await terminal.HasRunningCommandsAsync(cancellationToken).ConfigureAwait(false)) continue;
                }
                catch (TerminalException)
                {
                    // The sandbox died: nothing runs there any more, so it is as good as idle.
                }
                if (terminal.LastActivity > cutoff) continue;
                lock (_admission) _terminals.TryRemove(userId, out _);
                await terminal.DisposeAsync().ConfigureAwait(false);
                Log.Reaped(_logger, terminal.Workspace.Key);
                reaped++;
            }
            return reaped;
        }
        finally
        {
            Volatile.Write(ref _reaping, 0);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _reaper.DisposeAsync().ConfigureAwait(false);
        foreach (var userId in _terminals.Keys.ToArray())
            if (_terminals.TryRemove(userId, out var terminal)) await terminal.DisposeAsync().ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.TerminalReaped, LogLevel.Information, "Terminal sandbox for user {UserKey} stopped after being idle")]
        public static partial void Reaped(ILogger logger, string userKey);
    }
}
