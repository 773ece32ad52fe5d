using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Admission;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Core.Ownership;
using Warden.Core.Sandboxing;
using Warden.Core.Workspaces;

namespace Warden.Core.Terminals;

/// <summary>
/// Every user's terminal: looked up by the principal (tenant and user) the identity layer established, capped at
/// <see cref="TerminalOptions.MaxUsers"/> live sandboxes (<see cref="TerminalOptions.MaxUsersPerKey"/> per stored key),
/// each admitted against the <see cref="MemoryBudget"/> with its memory limit while its sandbox runs, and reaped when idle (no request and no running command for
/// <see cref="TerminalOptions.IdleTimeoutSeconds"/>). Reaping stops the sandbox; the user's home stays for next time.
/// </summary>
public sealed partial class TerminalManager : IAsyncDisposable
{
    private readonly BackendStartup _backends;
    private readonly UserWorkspaces _workspaces;
    private readonly UserHomes _homes;
    private readonly TerminalOptions _options;
    private readonly ResourceLimits _limits;
    private readonly Networking.LongLivedEgress? _egress;
    private readonly Egress.EgressProxy? _proxy;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly MemoryBudget _memory;
    private readonly ConcurrentDictionary<TerminalKey, UserTerminal> _terminals = new();

    /// <summary>Terminals the reaper is stopping: a new terminal of the same (policy, user) starts its sandbox after it.</summary>
    private readonly ConcurrentDictionary<TerminalKey, Task> _stopping = new();
    private readonly Lock _admission = new();
    private readonly ITimer _reaper;
    private int _reaping;
    private int _disposed;

    public TerminalManager(BackendStartup backends, UserWorkspaces workspaces, UserHomes homes, LimitPolicy policy, IOptions<TerminalOptions> options,
        TimeProvider time, ILoggerFactory loggers, MemoryBudget memory, Egress.EgressProxy? egress = null)
    {
        ArgumentNullException.ThrowIfNull(memory);
        _memory = memory;
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        _backends = backends;
        _workspaces = workspaces;
        _homes = homes;
        _options = options.Value;
        _limits = policy.ResolveTerminal(_options);
        // Resolved once (the validator already checked it against the ceiling): each user's sandbox gets a grant of its own.
        var setting = _options.NetworkSetting;
        var patterns = Networking.EgressRequest.Resolve(egress?.Ceiling ?? Egress.EgressPolicy.None, setting.Network, setting.Allow);
        _egress = patterns is null ? null : new Networking.LongLivedEgress(egress!, patterns);
        _proxy = egress;
        _time = time;
        _loggers = loggers;
        _logger = loggers.CreateLogger<TerminalManager>();
        var period = TimeSpan.FromSeconds(Math.Clamp(_options.IdleTimeoutSeconds / 4, 0.5, 30));
        _reaper = time.CreateTimer(_ => _ = ReapIdleAsync(CancellationToken.None), null, period, period);
    }

    public TerminalOptions Options => _options;

    /// <summary>Users whose sandboxes are up now.</summary>
    public int RunningCount => _terminals.Values.Count(t => t.IsRunning);

    /// <summary>The principal's own terminal (its sandbox starts on its first operation); never anyone else's. With a
    /// <paramref name="policy"/>, the principal's terminal under that policy: another sandbox, home and uid, with the
    /// policy's limits (as they were when the terminal was made: a changed policy applies to the next one).</summary>
    /// <exception cref="CapacityExceededException">The server, or this key, already has the most users' sandboxes it may,
    /// or the memory budget cannot hold one more.</exception>
    public UserTerminal Get(Principal owner, TerminalPolicy? policy = null)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var key = new TerminalKey(owner, policy?.Id);
        // A request that finds its terminal counts as activity from now, so the reaper does not stop it under the request.
        if (_terminals.TryGetValue(key, out var existing)) return Touched(existing);
        lock (_admission)
        {
            if (_terminals.TryGetValue(key, out existing)) return Touched(existing);
            if (_terminals.Count >= _options.MaxUsers)
                throw new CapacityExceededException($"The server already runs terminals for its maximum of {_options.MaxUsers} users " +
                    "(Warden:Terminal:MaxUsers); retry when one has been idle long enough to be stopped.", TimeSpan.FromSeconds(30));
            if (owner.Tenant != Principal.ServerTenant && _terminals.Keys.Count(o => o.Owner.Tenant == owner.Tenant) >= _options.MaxUsersPerKey)
                throw new CapacityExceededException($"This API key already has terminals for its maximum of {_options.MaxUsersPerKey} users " +
                    "(Warden:Terminal:MaxUsersPerKey); retry when one has been idle long enough to be stopped.", TimeSpan.FromSeconds(30));
            var terminal = new UserTerminal(_workspaces.Open(owner, policy), _backends, _homes, _options, policy?.Limits ?? _limits, _time,
                _loggers.CreateLogger<UserTerminal>(), _memory, _stopping.GetValueOrDefault(key))
            {
                IdleTimeout = policy?.IdleTimeout ?? TimeSpan.FromSeconds(_options.IdleTimeoutSeconds),
                Environment = policy?.Environment ?? new Dictionary<string, string>(),
                Egress = policy is null ? _egress : PolicyEgress(policy),
            };
            _terminals[key] = terminal;
            return terminal;
        }
    }

    /// <summary>A policy's own network (its <c>network.allow</c>), never the plain surface's: checked against the ceiling
    /// of now, so a policy stored under a wider ceiling gets a 400 naming the pattern rather than more than the server allows.</summary>
    private Networking.LongLivedEgress? PolicyEgress(TerminalPolicy policy)
    {
        if (policy.NetworkAllow is not { Count: > 0 } allow || _proxy is null) return null;
        var patterns = Networking.EgressRequest.Resolve(_proxy.Ceiling, network: false, allow);
        return patterns is null ? null : new Networking.LongLivedEgress(_proxy, patterns);
    }

    /// <summary>The principal's terminal (under <paramref name="policyId"/>, null: the plain surface) if they have one now;
    /// never creates one (a WebSocket attach looks up, it does not admit).</summary>
    public UserTerminal? Find(Principal owner, string? policyId = null)
    {
        ArgumentNullException.ThrowIfNull(owner);
        return _terminals.TryGetValue(new TerminalKey(owner, policyId), out var existing) ? Touched(existing) : null;
    }

    private static UserTerminal Touched(UserTerminal terminal)
    {
        terminal.Touch();
        return terminal;
    }

    /// <summary>Every terminal this server knows now (running or stopped-but-kept), for an administrator's overview.</summary>
    public IReadOnlyList<TerminalSummary> List() =>
        [.. _terminals.Select(p => new TerminalSummary(p.Key.Owner, p.Key.PolicyId, p.Value.IsRunning, p.Value.LastActivity, p.Value.IdleTimeout))];

    /// <summary>Stops (and forgets) the terminals of <paramref name="user"/> under <paramref name="policyId"/> (null: the plain
    /// surface), whatever key they came with; their homes stay. The next request starts a fresh sandbox. Returns how many.</summary>
    public async Task<int> StopAsync(string user, string? policyId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(user);
        List<UserTerminal> stopped = [];
        lock (_admission)
        {
            foreach (var key in _terminals.Keys.Where(k => k.Owner.User == user && k.PolicyId == policyId).ToList())
                if (_terminals.TryRemove(key, out var terminal)) stopped.Add(terminal);
        }
        foreach (var terminal in stopped)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await terminal.DisposeAsync().ConfigureAwait(false);
            Log.Stopped(_logger, terminal.Workspace.Key);
        }
        return stopped.Count;
    }

    /// <summary>Stops the sandboxes of users idle for the timeout with no command running; their homes stay.</summary>
    public async Task<int> ReapIdleAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _reaping, 1) != 0) return 0;
        try
        {
            var now = _time.GetUtcNow();
            int reaped = 0;
            foreach (var (owner, terminal) in _terminals)
            {
                // Each terminal's own idle time: a policy's may be shorter or longer than the server's.
                var cutoff = now - terminal.IdleTimeout;
                if (terminal.LastActivity > cutoff || terminal.HasAttachedInteractive) continue;
                try
                {
                    if (await terminal.HasRunningCommandsAsync(cancellationToken).ConfigureAwait(false)) continue;
                }
                catch (TerminalException)
                {
                    // The sandbox died: nothing runs there any more, so it is as good as idle.
                }
                if (terminal.LastActivity > cutoff) continue;
                // A request arriving meanwhile gets a new terminal, whose sandbox waits for this one to be gone: it needs the
                // same host uid and home, which this sandbox holds until its container or processes are removed.
                var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                lock (_admission)
                {
                    _stopping[owner] = stopped.Task;
                    _terminals.TryRemove(owner, out _);
                }
                try { await terminal.DisposeAsync().ConfigureAwait(false); }
                finally
                {
                    stopped.TrySetResult();
                    _stopping.TryRemove(KeyValuePair.Create(owner, stopped.Task));
                }
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
        foreach (var owner in _terminals.Keys.ToArray())
            if (_terminals.TryRemove(owner, out var terminal)) await terminal.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>A terminal is the principal's own, or the principal's under one policy.</summary>
    /// <remarks>(<see cref="TerminalSummary"/> is the same pair, seen from outside.)</remarks>
    private readonly record struct TerminalKey(Principal Owner, string? PolicyId);

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.TerminalReaped, LogLevel.Information, "Terminal sandbox for user {UserKey} stopped after being idle")]
        public static partial void Reaped(ILogger logger, string userKey);

        [LoggerMessage(Diagnostics.EventIds.TerminalStoppedByAdmin, LogLevel.Information, "Terminal sandbox for user {UserKey} stopped by an administrator")]
        public static partial void Stopped(ILogger logger, string userKey);
    }
}
