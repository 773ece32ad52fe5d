using Microsoft.Extensions.Options;
using Warden.Core.Execution;
using Warden.Core.Sessions;

namespace Warden.Core.Limits;

/// <summary>
/// The only code that decides effective limits: the request's value, else the default; above the ceiling is an error,
/// never a silent clamp, so a caller always knows what it got. API surfaces pass requests through; backends enforce the result.
/// </summary>
public sealed class LimitPolicy
{
    private readonly LimitsOptions _options;
    private readonly bool _network;

    /// <summary>Limits with network decided by <see cref="LimitsOptions.AllowNetwork"/> alone (no egress configuration).</summary>
    public LimitPolicy(IOptions<LimitsOptions> options)
        : this(options, null)
    {
    }

    /// <summary>
    /// Network is available when the egress ceiling (<c>WARDEN_EGRESS_ALLOW</c>) is not empty; the old
    /// <c>WARDEN_ALLOW_NETWORK=true</c> reaches here as the ceiling <c>*</c> (an alias, see EgressAliases).
    /// </summary>
    [Microsoft.Extensions.DependencyInjection.ActivatorUtilitiesConstructor]
    public LimitPolicy(IOptions<LimitsOptions> options, IOptions<Egress.EgressOptions>? egress)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _network = egress is null ? _options.AllowNetwork : !string.IsNullOrWhiteSpace(egress.Value.Allow);
    }

    public LimitsOptions Options => _options;

    public ResourceLimits Resolve(LimitRequest? requested, bool network = false)
    {
        requested ??= new LimitRequest();
        var d = _options.Default;
        var c = _options.Ceiling;

        double wall = Pick("timeout", requested.TimeoutSeconds, d.TimeoutSeconds, c.TimeoutSeconds);
        double cpuDefault = d.CpuTimeSeconds > 0 ? d.CpuTimeSeconds : Math.Min(wall, c.CpuTimeSeconds);
        double cpu = Pick("cpu_time", requested.CpuTimeSeconds, cpuDefault, c.CpuTimeSeconds);
        int memory = (int)Pick("memory_mb", requested.MemoryMb, d.MemoryMb, c.MemoryMb);
        int processes = (int)Pick("max_processes", requested.MaxProcesses, d.MaxProcesses, c.MaxProcesses);
        long output = (long)Pick("max_output_bytes", requested.MaxOutputBytes, d.MaxOutputBytes, c.MaxOutputBytes);

        if (network && !_network)
            throw new InvalidRequestException("Network access is disabled on this server (WARDEN_EGRESS_ALLOW is empty).", "network");

        return Build(wall, cpu, memory, processes, output, network);
    }

    /// <summary>
    /// A session's limits: per-cell timeout and output cap (defaults for its cells), memory and processes for the whole
    /// session. The sandbox has no wall clock or CPU-time rlimit of its own: cells are timed one by one.
    /// </summary>
    public SessionLimits ResolveSession(LimitRequest? requested, SessionOptions sessions)
    {
        ArgumentNullException.ThrowIfNull(sessions);
        requested ??= new LimitRequest();
        if (requested.CpuTimeSeconds is not null)
            throw new InvalidRequestException("cpu_time cannot be set for a session: cells are limited by their timeout.", "cpu_time");
        var d = sessions.Default;
        var c = sessions.Ceiling;
        double cell = Pick("timeout", requested.TimeoutSeconds, d.CellTimeoutSeconds, c.CellTimeoutSeconds);
        long output = (long)Pick("max_output_bytes", requested.MaxOutputBytes, d.MaxOutputBytes, c.MaxOutputBytes);
        int memory = (int)Pick("memory_mb", requested.MemoryMb, d.MemoryMb, c.MemoryMb);
        int processes = (int)Pick("max_processes", requested.MaxProcesses, d.MaxProcesses, c.MaxProcesses);
        // RLIMIT_CPU counts a process's whole life, which for a kernel spans every cell: only an unreachable value fits.
        var sandbox = Build(wall: 0, cpu: 0, memory, processes, output, network: false) with
        {
            WallTime = Timeout.InfiniteTimeSpan,
            CpuTime = TimeSpan.FromDays(365),
        };
        return new SessionLimits { CellTimeout = TimeSpan.FromSeconds(cell), MaxOutputBytes = output, Sandbox = sandbox };
    }

    /// <summary>One cell's timeout: the request's, else the session's default; above the sessions' ceiling is an error.</summary>
    public static TimeSpan ResolveCellTimeout(double? requestedSeconds, SessionLimits session, SessionOptions sessions)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(sessions);
        return TimeSpan.FromSeconds(Pick("timeout", requestedSeconds, session.CellTimeout.TotalSeconds, sessions.Ceiling.CellTimeoutSeconds));
    }

    /// <summary>
    /// A user terminal's sandbox: memory and processes for all the user's commands together. Like a session, the sandbox
    /// has no wall clock or CPU-time rlimit of its own: the terminal times each command (MaxCommandSeconds).
    /// </summary>
    public ResourceLimits ResolveTerminal(Terminals.TerminalOptions terminal)
    {
        ArgumentNullException.ThrowIfNull(terminal);
        bool network = terminal.NetworkSetting.Network;
        if (network && !_network)
            throw new InvalidRequestException("Network access is disabled on this server (WARDEN_EGRESS_ALLOW is empty).", "network");
        return Build(wall: 0, cpu: 0, terminal.MemoryMb, terminal.MaxProcesses, terminal.MaxLogBytes, network) with
        {
            WallTime = Timeout.InfiniteTimeSpan,
            CpuTime = TimeSpan.FromDays(365),
        };
    }

    /// <summary>
    /// An orchestrator policy's terminal: the policy's cpu, memory, home size and idle timeout where it sets them, else
    /// the server's terminal defaults. Unlike a request, a policy is lowered to the ceilings rather than refused (as Open
    /// WebUI's Terminals clamps to TERMINALS_MAX_*): the server's terminal settings are the ceilings, and a policy written
    /// before an operator lowered them still works, within the new ones. <see cref="ClampTerminalPolicy"/> is the clamp.
    /// </summary>
    public Terminals.TerminalPolicy ResolveTerminalPolicy(string id, Terminals.TerminalOptions terminal, Terminals.TerminalPolicyRequest request)
    {
        ArgumentNullException.ThrowIfNull(terminal);
        var clamped = ClampTerminalPolicy(terminal, request);
        var limits = ResolveTerminal(terminal) with
        {
            MemoryBytes = (long)(clamped.MemoryMb ?? terminal.MemoryMb) << 20,
            Cpus = clamped.Cpus ?? _options.Cpus,
            // A policy's network is its own network.allow (through the egress proxy), never the plain surface's setting.
            Network = clamped.NetworkAllow is { Count: > 0 },
        };
        var idle = clamped.IdleTimeoutSeconds is { } s and > 0 ? TimeSpan.FromSeconds(s) : TimeSpan.FromSeconds(terminal.IdleTimeoutSeconds);
        return new Terminals.TerminalPolicy(id, limits, clamped.StorageMb ?? terminal.MaxMegabytesPerUser, idle, clamped.Environment)
        {
            SharedHome = clamped.SharedHome,
            NetworkAllow = clamped.NetworkAllow,
        };
    }

    /// <summary>A policy's values lowered to the server's ceilings: cpu to Warden:Limits:Cpus, memory to Warden:Terminal:MemoryMb,
    /// storage to Warden:Terminal:MaxMegabytesPerUser, idle time to a week. Values at or below 0 are refused.</summary>
    public Terminals.TerminalPolicyRequest ClampTerminalPolicy(Terminals.TerminalOptions terminal, Terminals.TerminalPolicyRequest request)
    {
        ArgumentNullException.ThrowIfNull(terminal);
        ArgumentNullException.ThrowIfNull(request);
        if (request.Cpus is <= 0 || request.Cpus is double c && double.IsNaN(c)) throw new InvalidRequestException("cpu_limit must be greater than 0.", "cpu_limit");
        if (request.MemoryMb is < 32) throw new InvalidRequestException("memory_limit must be at least 32Mi.", "memory_limit");
        if (request.StorageMb is < 1) throw new InvalidRequestException("storage must be at least 1Mi.", "storage");
        if (request.IdleTimeoutSeconds is < 0 || request.IdleTimeoutSeconds is double i && double.IsNaN(i))
            throw new InvalidRequestException("idle_timeout_minutes must be 0 or more.", "idle_timeout_minutes");
        double? cpus = request.Cpus is { } wanted ? Math.Min(wanted, _options.Cpus) : null;
        // A home needs room for its inode table (see TerminalOptionsValidator): never below what the file quota needs.
        int minimumStorage = terminal.MaxFilesPerUser > 0 ? 1 + terminal.MaxFilesPerUser / 2048 : 1;
        return request with
        {
            Cpus = cpus,
            MemoryMb = request.MemoryMb is { } m ? Math.Min(m, terminal.MemoryMb) : null,
            StorageMb = request.StorageMb is { } st ? Math.Clamp(st, Math.Min(minimumStorage, terminal.MaxMegabytesPerUser), terminal.MaxMegabytesPerUser) : null,
            IdleTimeoutSeconds = request.IdleTimeoutSeconds is { } idle ? Math.Min(idle, 7 * 86400) : null,
        };
    }

    /// <summary>The fixed limits of a compile stage.</summary>
    public ResourceLimits ResolveCompile()
    {
        var k = _options.Compile;
        return Build(k.TimeoutSeconds, k.CpuTimeSeconds > 0 ? k.CpuTimeSeconds : k.TimeoutSeconds, k.MemoryMb,
            k.MaxProcesses, k.MaxOutputBytes, network: false);
    }

    private ResourceLimits Build(double wall, double cpu, int memoryMb, int processes, long output, bool network) => new()
    {
        WallTime = TimeSpan.FromSeconds(wall),
        CpuTime = TimeSpan.FromSeconds(cpu),
        MemoryBytes = (long)memoryMb << 20,
        MaxProcesses = processes,
        MaxOutputBytes = output,
        Cpus = _options.Cpus,
        MaxFileBytes = (long)_options.MaxFileSizeMb << 20,
        MaxOpenFiles = _options.MaxOpenFiles,
        TmpBytes = (long)_options.TmpMb << 20,
        WorkspaceBytes = (long)_options.WorkspaceMb << 20,
        Network = network,
    };

    private static double Pick(string name, double? requested, double fallback, double ceiling)
    {
        if (requested is null) return Math.Min(fallback, ceiling);
        if (double.IsNaN(requested.Value) || requested.Value <= 0)
            throw new InvalidRequestException($"{name} must be greater than 0 (got {requested.Value}).", name);
        if (requested.Value > ceiling)
            throw new LimitAboveCeilingException(name, requested.Value, ceiling);
        return requested.Value;
    }
}
