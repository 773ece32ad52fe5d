using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Warden.Core.Egress;

/// <summary>
/// Warden's egress proxy: one per process. It serves connections accepted on listeners the sandbox side created (a
/// socket bound inside a sandbox's network namespace), each for one <see cref="EgressGrant"/>. Speaks HTTP CONNECT
/// (TLS only, the SNI checked against the CONNECT host) and one-request plain HTTP; resolves names itself and dials
/// only vetted addresses.
/// </summary>
public sealed partial class EgressProxy : IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<ServeHandle, byte> _handles = new();
    private readonly HostAddresses? _ownedHostAddresses;
    internal readonly IEgressResolver Resolver;
    internal readonly IEgressConnector Connector;
    internal readonly IEgressAuditSink Audit;
    internal readonly EgressMetrics Metrics;
    internal readonly ILogger Logger;
    internal readonly TimeProvider Time;
    internal readonly UpstreamTls UpstreamTls;

    public EgressProxy(IOptions<EgressOptions> options, IOptions<WardenOptions> warden, IEgressAuditSink audit, EgressMetrics metrics,
        ILogger<EgressProxy> logger, TimeProvider time)
        : this(EgressSettings.From((options ?? throw new ArgumentNullException(nameof(options))).Value), null, null, null, audit, metrics, logger, time,
            TrustDirectory((warden ?? throw new ArgumentNullException(nameof(warden))).Value.StateDirectory))
    {
    }

    /// <param name="trustDirectory">Where the CA bundle is written for sandboxes (null: not written; in-process tests).</param>
    internal EgressProxy(EgressSettings settings, AddressPolicy? addresses, IEgressResolver? resolver, IEgressConnector? connector,
        IEgressAuditSink audit, EgressMetrics metrics, ILogger logger, TimeProvider time, string? trustDirectory = null)
    {
        Settings = settings ?? throw new ArgumentNullException(nameof(settings));
        if (addresses is null)
        {
            _ownedHostAddresses = new HostAddresses();
            addresses = new AddressPolicy(settings.AllowPrivate, _ownedHostAddresses);
        }
        Addresses = addresses;
        Resolver = resolver ?? new EgressResolver(settings);
        Connector = connector ?? new SocketEgressConnector();
        Audit = audit ?? throw new ArgumentNullException(nameof(audit));
        Metrics = metrics ?? throw new ArgumentNullException(nameof(metrics));
        Logger = logger ?? throw new ArgumentNullException(nameof(logger));
        Time = time ?? throw new ArgumentNullException(nameof(time));
        UpstreamTls = new UpstreamTls(settings.UpstreamCa);
        var terminated = settings.Credentials.Values.Where(c => c.Terminate).Select(c => c.Host).Order(StringComparer.Ordinal).ToArray();
        // Without termination nothing is written and nothing bound: files an earlier start left are public certificates
        // no sandbox is given (removing them here would race another engine sharing the directory in tests).
        if (terminated.Length > 0) Trust = new EgressTrust(terminated, time, trustDirectory);
    }

    /// <summary>
    /// The CA files sandboxes bind (public certificates only): a directory of this proxy's own under the state
    /// directory's <c>egress</c>, since the CAs are this proxy's (several engines share one state directory in tests),
    /// removed when it is disposed.
    /// </summary>
    private static string TrustDirectory(string stateDirectory) =>
        Path.Combine(Path.GetFullPath(stateDirectory), "egress", "ca-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8)));

    /// <summary>
    /// The CAs the proxy terminates TLS with and the files sandboxes trust them through (null unless a credentialed host
    /// has <c>terminate: true</c>). Rotated every <see cref="EgressTrust.RotateAfter"/>.
    /// </summary>
    public EgressTrust? Trust { get; }

    /// <summary>The CA signing leaves now (null without termination).</summary>
    public EgressCertificateAuthority? CertificateAuthority => Trust?.Current;

    public EgressSettings Settings { get; }

    /// <summary>The server's ceiling (<c>WARDEN_EGRESS_ALLOW</c>); empty means no egress at all.</summary>
    public EgressPolicy Ceiling => Settings.Ceiling;

    internal AddressPolicy Addresses { get; }

    internal CancellationToken Stopping => _stopping.Token;

    /// <summary>
    /// Warden's own listening endpoints (the server's bound addresses): never dialled, even inside a range
    /// <c>WARDEN_EGRESS_ALLOW_PRIVATE</c> opened. The server calls this once its listeners are bound.
    /// </summary>
    public void RefuseOwnEndpoints(IEnumerable<IPEndPoint> endpoints) => Addresses.AddOwnEndpoints(endpoints);

    /// <summary>A grant with the server's caps (<c>WARDEN_EGRESS_MAX_*</c>).</summary>
    public EgressGrant CreateGrant(string principal, string runId, EgressPolicy patterns) =>
        new(principal, runId, patterns, Settings.Caps);

    /// <summary>
    /// Serves connections accepted on <paramref name="listener"/> (already bound and listening, possibly in another
    /// network namespace) for <paramref name="grant"/>, until the returned handle is disposed or the grant revoked.
    /// Disposing the handle stops accepting and closes the connections accepted through it; the listener itself stays
    /// open (its owner closes it). Several listeners may serve one grant.
    /// </summary>
    public IAsyncDisposable Serve(Socket listener, EgressGrant grant)
    {
        ArgumentNullException.ThrowIfNull(listener);
        ArgumentNullException.ThrowIfNull(grant);
        ObjectDisposedException.ThrowIf(_stopping.IsCancellationRequested, this);
        var handle = new ServeHandle(this, listener, grant);
        _handles[handle] = 0;
        handle.Start();
        return handle;
    }

    internal void Forget(ServeHandle handle) => _handles.TryRemove(handle, out _);

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested) return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var handle in _handles.Keys) await handle.DisposeAsync().ConfigureAwait(false);
        _ownedHostAddresses?.Dispose();
        UpstreamTls.Dispose();
        Trust?.Dispose();
        _stopping.Dispose();
    }
}
