using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Core.Admission;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Core.Ownership;
using Warden.Core.Sandboxing;

namespace Warden.Core.Sessions;

/// <summary>
/// What a caller asks for when creating a session; null limits mean the server's session defaults. Network as for an
/// execution: <paramref name="Network"/> alone is the whole egress ceiling, <paramref name="NetworkAllow"/> a subset of it.
/// </summary>
public sealed record SessionRequest(string? Language, Principal Owner, LimitRequest? Limits = null, bool Network = false,
    IReadOnlyList<string>? NetworkAllow = null);

/// <summary>
/// Owns every session: creation under the global, per-key and per-user caps and the memory budget, lookup, deletion,
/// idle reaping (driven by the injected <see cref="TimeProvider"/>), and destruction of them all at shutdown. Every
/// lookup takes the <see cref="Requester"/>: a session another principal owns is answered as if it did not exist.
/// </summary>
public sealed partial class SessionManager : IAsyncDisposable
{
    private readonly BackendStartup _backends;
    private readonly KernelCatalog _kernels;
    private readonly LimitPolicy _policy;
    private readonly SessionOptions _options;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger<SessionManager> _logger;
    private readonly ISessionRegistry _registry;
    private readonly MemoryBudget _memory;
    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private readonly Lock _admission = new();
    private readonly ITimer _reaper;
    private readonly List<Reservation> _reserved = [];
    private readonly KernelPool _warm;
    private readonly Egress.EgressProxy? _egress;
    private int _disposed;

    public SessionManager(BackendStartup backends, KernelCatalog kernels, LimitPolicy policy, IOptions<SessionOptions> options, TimeProvider time,
        ILoggerFactory loggers, ISessionRegistry registry, MemoryBudget memory, Egress.EgressProxy? egress = null)
    {
        _egress = egress;
        ArgumentNullException.ThrowIfNull(memory);
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
        _memory = memory;
        var period = TimeSpan.FromSeconds(Math.Clamp(_options.IdleTimeoutSeconds / 4, 0.5, 30));
        _reaper = time.CreateTimer(_ => _ = ReapIdleAsync(CancellationToken.None), null, period, period);
        _warm = new KernelPool(backends, kernels.Default, policy.ResolveSession(null, _options), _options, memory, _logger);
        _warm.Fill();
    }

    /// <summary>Warm kernels waiting now (<see cref="SessionOptions.WarmKernels"/>).</summary>
    public int WarmKernels => _warm.Count;

    public SessionOptions Options => _options;

    public KernelCatalog Kernels => _kernels;

    public int Count => _sessions.Count;

    /// <summary>Starts a session's kernel and returns once it is ready for cells.</summary>
    /// <exception cref="CapacityExceededException">The server, this key or this user already has the most sessions allowed,
    /// or the memory budget cannot hold the session's memory limit.</exception>
    public async Task<Session> CreateAsync(SessionRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var kernel = _kernels.Resolve(request.Language);
        var limits = _policy.ResolveSession(request.Limits, _options);
        // Network for the session's whole life: its own egress namespace, one grant for its owner, revoked when it ends.
        var network = Networking.EgressRequest.Resolve(_egress?.Ceiling ?? Egress.EgressPolicy.None, request.Network, request.NetworkAllow);
        if (network is not null) limits = limits with { Sandbox = limits.Sandbox with { Network = true } };
        var owner = request.Owner;
        var memory = Reserve(owner, kernel, limits);
        var id = _registry.NewSessionId();
        var session = new Session(id, owner, kernel, limits, _backends, _policy, _options, _time, _loggers.CreateLogger<Session>(), memory.Lease,
            memory.Warm)
        {
            Egress = network is null ? null : new Networking.LongLivedEgress(_egress!, network),
        };
        // Listed (as starting) from the moment it exists, before the cluster claim's database round trip: a list taken
        // while this request is in flight must not miss a kernel whose creation answers before the list does, or
        // JupyterLab's kernel manager takes the new kernel for dead (seen through a round-robin balancer).
        _sessions[id] = session;
        try
        {
            // Claimed before the kernel starts: a user or key over its cap (counted on every replica) costs no sandbox.
            await _registry.ClaimAsync(id, owner, new SessionCaps(_options.MaxSessionsPerUser, KeyCap(owner)), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _sessions.TryRemove(id, out _);
            lock (_admission) _reserved.Remove(memory);
            // The session owns the memory lease and the warm kernel: disposing it gives both back.
            await session.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        try
        {
            await session.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _sessions.TryRemove(id, out _);
            await session.DisposeAsync().ConfigureAwait(false);
            await _registry.ReleaseAsync(id, CancellationToken.None).ConfigureAwait(false);
            if (e is KernelStartException && TooSmall(limits) is { } parameter)
                throw new InvalidRequestException($"The {kernel.Language} kernel could not start within the session's own limits " +
                    $"({parameter} is below the server's default for sessions): ask for more, or leave it out. {e.Message}", parameter);
            throw;
        }
        finally
        {
            lock (_admission) _reserved.Remove(memory);
        }
        Log.Created(_logger, id, kernel.Language, owner.ToString());
        return session;
    }

    /// <summary>
    /// Admission, all at once under one lock: the server's cap, the key's and the user's caps (sessions still starting
    /// count), then the memory budget. The returned reservation counts as a session until the caller removes it. A warm
    /// kernel of the same kernel and limits, if one waits, comes with its memory already reserved: the session takes both.
    /// </summary>
    private Reservation Reserve(Principal owner, KernelDefinition kernel, SessionLimits limits)
    {
        lock (_admission)
        {
            var owners = _sessions.Values.Select(s => s.Owner).Concat(_reserved.Select(r => r.Owner)).ToList();
            if (owners.Count >= _options.MaxSessions)
                throw new CapacityExceededException($"The server already runs its maximum of {_options.MaxSessions} sessions (Warden:Sessions:MaxSessions).",
                    TimeSpan.FromSeconds(5));
            if (owners.Count(o => o.Tenant == owner.Tenant) >= KeyCap(owner))
                throw new CapacityExceededException($"This API key already holds its maximum of {_options.MaxSessionsPerKey} sessions and kernels " +
                    "(Warden:Sessions:MaxSessionsPerKey), across all the users it names; delete one first.", TimeSpan.FromSeconds(5));
            if (owners.Count(o => o == owner) >= _options.MaxSessionsPerUser)
                throw new CapacityExceededException($"User '{owner.User}' already has the maximum of {_options.MaxSessionsPerUser} sessions " +
                    "(Warden:Sessions:MaxSessionsPerUser); delete one first.", TimeSpan.FromSeconds(5));
            var warm = _warm.TryTake(kernel, limits);
            var reservation = new Reservation(owner, warm?.Lease ?? _memory.Reserve(limits.Sandbox.MemoryBytes, "a session"), warm?.Process);
            _reserved.Add(reservation);
            return reservation;
        }
    }

    /// <summary>The limit a caller set below the sessions' default, if any: a kernel that cannot start then is the request's doing.</summary>
    private string? TooSmall(SessionLimits limits) =>
        limits.Sandbox.MemoryBytes < (long)_options.Default.MemoryMb << 20 ? "memory_mb"
        : limits.Sandbox.MaxProcesses < _options.Default.MaxProcesses ? "max_processes"
        : null;

    /// <summary>A stored key's cap; the operator's own tenant is bounded by the server-wide cap alone.</summary>
    private int KeyCap(Principal owner) => owner.Tenant == Principal.ServerTenant ? int.MaxValue : _options.MaxSessionsPerKey;

    /// <summary>A session being admitted: counted against the caps before it is in <see cref="_sessions"/>.</summary>
    private sealed record Reservation(Principal Owner, MemoryLease Lease, KernelProcess? Warm);

    /// <summary>The session <paramref name="id"/> if <paramref name="requester"/> may reach it.</summary>
    /// <exception cref="SessionNotFoundException">No such session, or another principal's: the two are indistinguishable.</exception>
    public Session Get(string id, Requester requester)
    {
        ArgumentNullException.ThrowIfNull(requester);
        return _sessions.TryGetValue(id, out var session) && requester.CanReach(session.Owner) ? session : throw new SessionNotFoundException(id);
    }

    /// <summary>Whether this server holds <paramref name="id"/>, whoever owns it: for routing only, never to serve a request.</summary>
    public bool Holds(string id) => _sessions.ContainsKey(id);

    /// <summary>The sessions <paramref name="requester"/> may reach, oldest first.</summary>
    public IReadOnlyList<Session> List(Requester requester)
    {
        ArgumentNullException.ThrowIfNull(requester);
        return _sessions.Values.Where(s => requester.CanReach(s.Owner)).OrderBy(s => s.CreatedAt).ToList();
    }

    /// <summary>Every session's id (the cluster directory's sync), whoever owns it.</summary>
    public IReadOnlyList<string> AllIds() => _sessions.Keys.ToList();

    /// <exception cref="SessionNotFoundException">No such session, or another principal's.</exception>
    public async Task DeleteAsync(string id, Requester requester, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        Session? session;
        lock (_admission)
        {
            if (!_sessions.TryGetValue(id, out session) || !requester.CanReach(session.Owner) || !_sessions.TryRemove(id, out _))
                throw new SessionNotFoundException(id);
        }
        await _registry.ReleaseAsync(id, CancellationToken.None).ConfigureAwait(false);
        await session.DisposeAsync().AsTask().WaitAsync(cancellationToken).ConfigureAwait(false);
        // Its memory is free again: a warm kernel the budget had no room for may fit now.
        _warm.Fill();
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
        if (reaped > 0) _warm.Fill();
        return reaped;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _reaper.DisposeAsync().ConfigureAwait(false);
        await _warm.DisposeAsync().ConfigureAwait(false);
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
