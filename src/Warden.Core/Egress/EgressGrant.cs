namespace Warden.Core.Egress;

/// <summary>
/// Who a listener serves and what it may reach: the principal and run it belongs to, its patterns (within the
/// server's ceiling), its caps and its counters. Nothing the sandbox sends decides any of this: the listener it
/// connected to does. <see cref="Revoke"/> closes every tunnel of the grant and refuses new ones.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification =
    "The source has no timer; tunnels register on its token until they end, so it is left to the collector, never disposed early.")]
public sealed class EgressGrant
{
    private readonly CancellationTokenSource _closed = new();
    private readonly Lock _gate = new();
    private int _connections;
    private int _refused;
    private int _active;
    private long _sent;
    private long _received;
    private volatile string? _closedReason;

    public EgressGrant(string principal, string runId, EgressPolicy patterns, EgressCaps caps)
    {
        ArgumentException.ThrowIfNullOrEmpty(principal);
        ArgumentException.ThrowIfNullOrEmpty(runId);
        Principal = principal;
        RunId = runId;
        Patterns = patterns ?? throw new ArgumentNullException(nameof(patterns));
        Caps = caps ?? throw new ArgumentNullException(nameof(caps));
    }

    /// <summary>The owner label written in audit records (key id, user).</summary>
    public string Principal { get; }
    /// <summary>The execution, session cell or terminal command this grant is for.</summary>
    public string RunId { get; }
    public EgressPolicy Patterns { get; }
    public EgressCaps Caps { get; }

    public bool IsRevoked => _closedReason == EgressReasons.Revoked;

    /// <summary>Fires when the grant is revoked or its bytes cap is reached: every tunnel of it closes.</summary>
    internal CancellationToken Closed => _closed.Token;

    internal string? ClosedReason => _closedReason;

    /// <summary>Closes every tunnel of this grant now and refuses any new connection (idempotent).</summary>
    public void Revoke() => Close(EgressReasons.Revoked);

    public EgressUsage Snapshot()
    {
        lock (_gate) return new EgressUsage(_connections, _refused, _sent, _received);
    }

    /// <summary>Claims one connection slot, or says which cap (or revocation) refuses it.</summary>
    internal string? TryOpen()
    {
        lock (_gate)
        {
            if (_closedReason is { } reason) return reason == EgressReasons.Revoked ? EgressReasons.NoGrant : reason;
            if (_connections >= Caps.MaxConnections || _active >= Caps.MaxConcurrent) return EgressReasons.CapConnections;
            _connections++;
            _active++;
            return null;
        }
    }

    internal void Release()
    {
        lock (_gate) _active--;
    }

    internal void CountRefused()
    {
        lock (_gate) _refused++;
    }

    /// <summary>Counts relayed bytes; false once the bytes cap is passed (every tunnel is then being closed).</summary>
    internal bool AddBytes(long sent, long received)
    {
        bool over;
        lock (_gate)
        {
            _sent += sent;
            _received += received;
            over = _sent + _received > Caps.MaxBytes;
        }
        if (over) Close(EgressReasons.CapBytes);
        return !over;
    }

    private void Close(string reason)
    {
        lock (_gate)
        {
            // Revocation is final and wins over a cap for the reason new connections are given.
            if (_closedReason is not null && reason != EgressReasons.Revoked) return;
            _closedReason = reason;
        }
        _closed.Cancel();
    }
}
