using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Core.Sandboxing;

namespace Warden.Core.Sessions;

/// <summary>What a caller asks for when creating a session; null limits mean the server's session defaults.</summary>
public sealed record SessionRequest(string? Language, string UserId, LimitRequest? Limits = null);

/// <summary>
/// Owns every session: creation under the global and per-user caps, lookup, deletion, idle reaping (driven by the
/// injected <see cref="TimeProvider"/>), and destruction of them all at shutdown.
/// </summary>
public sealed partial class SessionManager : IAsyncDisposable
{
    private readonly BackendSelector _backends;
    private readonly KernelCatalog _kernels;
    private readonly LimitPolicy _policy;
    private readonly SessionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger<SessionManager> _logger;
    private readonly ISessionRegistry _registry;
    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private readonly Lock _admission = new();
    private readonly ITimer _reaper;
    private int _reserved;
    private int _disposed;

    public SessionManager(BackendSelector backends, KernelCatalog kernels, LimitPolicy policy, IOptions<SessionOptions> options, TimeProvider time,
        ILoggerFactory loggers, ISessionRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        _backends = backends;
        _kernels = kernels;
        _policy = policy;
        _options = options.Value;
        _time = time;
        _loggers = loggers;
        _logger = loggers.CreateLogger<SessionManager>();
        _registry = registry;
        var period = TimeSpan.FromSeconds(Math.Clamp(_options.IdleTimeoutSeconds / 4, 0.5, 30));
        _reaper = time.CreateTimer(_ => _ = ReapIdleAsync(CancellationToken.None), null, period, period);
    }

    public SessionOptions Options => _options;

    public KernelCatalog Kernels => _kernels;

    public int Count => _sessions.Count;

    /// <summary>Starts a session's kernel and returns once it is ready for cells.</summary>
    /// <exception cref="CapacityExceededException">The server or this user already has the most sessions allowed.</exception>
    public async Task<Session> CreateAsync(SessionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var kernel = _kernels.Resolve(request.Language);
        var limits = _policy.ResolveSession(request.Limits, _options);
        Reserve(request.UserId);
        var id = _registry.NewSessionId();
        try
        {
            // Claimed before the kernel starts: a user over the cap (counted on every replica) costs no sandbox.
            await _registry.ClaimAsync(id, request.UserId, _options.MaxSessionsPerUser, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            lock (_admission) _reserved--;
            throw;
        }
        var session = new Session(id, request.UserId, kernel, limits, _backends.Selected, _policy, _options, _time, _loggers.CreateLogger<Session>());
        try
        {
            _sessions[id] = session;
            await session.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _sessions.TryRemove(id, out _);
            await session.DisposeAsync().ConfigureAwait(false);
            await _registry.ReleaseAsync(id, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        finally
        {
            lock (_admission) _reserved--;
        }
        Log.Created(_logger, id, kernel.Language, request.UserId);
        return session;
    }

    private void Reserve(string userId)
    {
        lock (_admission)
        {
            if (_sessions.Count + _reserved >= _options.MaxSessions)
                throw new CapacityExceededException($"The server already runs its maximum of {_options.MaxSessions} sessions (Warden:Sessions:MaxSessions).",
                    TimeSpan.FromSeconds(5));
            if (_sessions.Values.Count(s => s.UserId == userId) >= _options.MaxSessionsPerUser)
                throw new CapacityExceededException($"User '{userId}' already has the maximum of {_options.MaxSessionsPerUser} sessions " +
                    "(Warden:Sessions:MaxSessionsPerUser); delete one first.", TimeSpan.FromSeconds(5));
            _reserved++;
        }
    }

    /// <exception cref="SessionNotFoundException">No such session.</exception>
    public Session Get(string id) => _sessions.TryGetValue(id, out var session) ? session : throw new SessionNotFoundException(id);

    public bool TryGet(string id, out Session session) => _sessions.TryGetValue(id, out session!);

    public IReadOnlyList<Session> List(string? userId = null) =>
        _sessions.Values.Where(s => userId is null || s.UserId == userId).OrderBy(s => s.CreatedAt).ToList();

    /// <exception cref="SessionNotFoundException">No such session.</exception>
    public async Task DeleteAsync(string id, CancellationToken cancellationToken)
    {
        if (!_sessions.TryRemove(id, out var session)) throw new SessionNotFoundException(id);
        await _registry.ReleaseAsync(id, CancellationToken.None).ConfigureAwait(false);
        await session.DisposeAsync().AsTask().WaitAsync(cancellationToken).ConfigureAwait(false);
        Log.Deleted(_logger, id);
    }

    /// <summary>Deletes every session not used for <see cref="SessionOptions.IdleTimeoutSeconds"/> and not running a cell.</summary>
    public async Task<int> ReapIdleAsync(CancellationToken cancellationToken)
    {
        var cutoff = _time.GetUtcNow() - TimeSpan.FromSeconds(_options.IdleTimeoutSeconds);
        int reaped = 0;
        foreach (var session in _sessions.Values)
        {
            if (session.State is SessionState.Busy or SessionState.Starting or SessionState.Restarting || session.LastActivity > cutoff) continue;
            if (!_sessions.TryRemove(session.Id, out _)) continue;
            await _registry.ReleaseAsync(session.Id, CancellationToken.None).ConfigureAwait(false);
            await session.DisposeAsync().ConfigureAwait(false);
            Log.Reaped(_logger, session.Id, (long)(_time.GetUtcNow() - session.LastActivity).TotalSeconds);
            reaped++;
        }
        return reaped;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _reaper.DisposeAsync().ConfigureAwait(false);
        foreach (var id in _sessions.Keys.ToArray())
            if (_sessions.TryRemove(id, out var session)) await session.DisposeAsync().ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.SessionCreated, LogLevel.Information, "Session {SessionId} ({Language}) created for {UserId}")]
        public static partial void Created(ILogger logger, string sessionId, string language, string userId);

        [LoggerMessage(Diagnostics.EventIds.SessionDeleted, LogLevel.Information, "Session {SessionId} deleted")]
        public static partial void Deleted(ILogger logger, string sessionId);

        [LoggerMessage(Diagnostics.EventIds.SessionReaped, LogLevel.Information, "Session {SessionId} reaped after {IdleSeconds} s idle")]
        public static partial void Reaped(ILogger logger, string sessionId, long idleSeconds);
    }
}
