using Warden.Core.Egress;

namespace Warden.Core.Networking;

/// <summary>
/// What a command granted network brings to the sandbox that runs it: the proxy and the grant its connections are
/// served under (principal, run, patterns, caps, counters). The backend gives the sandbox an egress network and
/// serves its listeners with this grant for as long as the command runs (<see cref="EgressAttachment"/>).
/// </summary>
public sealed record SandboxEgress(EgressProxy Proxy, EgressGrant Grant);

/// <summary>
/// One sandbox's egress network with the proxy serving its listeners for one grant. Disposing stops serving (closing
/// the grant's connections through these listeners) and releases the namespace and listeners.
/// </summary>
internal sealed class EgressAttachment : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _serving;
    private readonly bool _ownsNetwork;
    private EgressGrant? _revokes;
    private int _disposed;

    private EgressAttachment(EgressNetwork network, List<IAsyncDisposable> serving, bool ownsNetwork, EgressTrustFiles? trust)
    {
        Network = network;
        _serving = serving;
        _ownsNetwork = ownsNetwork;
        Trust = trust;
    }

    /// <summary>The CA files the sandbox binds when the proxy terminates TLS for some hosts (null otherwise).</summary>
    public EgressTrustFiles? Trust { get; }

    public EgressNetwork Network { get; }

    /// <summary>The spec's endpoint for bwrap and gVisor: the namespace warden-exec joins.</summary>
    public Sandboxing.Spec.EgressEndpoint Endpoint => new(Network.HelperPath, Trust);

    /// <summary>A fresh egress network, served for <paramref name="egress"/>'s grant (a cold run's stage).</summary>
    public static async Task<EgressAttachment> CreateAsync(SandboxEgress egress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(egress);
        var network = await EgressNetwork.CreateAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return Serve(network, egress, ownsNetwork: true);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Serves an egress network that outlives this attachment (a warm sandbox's, a keeper's, a session's) for one grant.
    /// </summary>
    public static EgressAttachment Attach(EgressNetwork network, SandboxEgress egress) => Serve(network, egress, ownsNetwork: false);

    /// <summary>
    /// A long-lived sandbox's egress network (a session's, a kernel's, a terminal's) served for its grant for the
    /// sandbox's whole life: disposing stops serving, revokes the grant and releases the namespace and listeners.
    /// </summary>
    public static EgressAttachment ForLife(EgressNetwork network, SandboxEgress egress)
    {
        var attachment = Serve(network, egress, ownsNetwork: true);
        attachment._revokes = egress.Grant;
        return attachment;
    }

    /// <summary>A fresh egress network served for a long-lived sandbox's grant until the sandbox is destroyed.</summary>
    public static async Task<EgressAttachment?> ForSessionAsync(Sandboxing.SessionSpec spec, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (!spec.Limits.Network) return null;
        var egress = spec.Command.Egress ?? throw new InvalidOperationException("A long-lived sandbox granted network needs its egress grant.");
        var network = await EgressNetwork.CreateAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return ForLife(network, egress);
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    private static EgressAttachment Serve(EgressNetwork network, SandboxEgress egress, bool ownsNetwork)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(egress);
        var serving = new List<IAsyncDisposable>(network.Listeners.Count);
        foreach (var listener in network.Listeners) serving.Add(egress.Proxy.Serve(listener, egress.Grant));
        return new EgressAttachment(network, serving, ownsNetwork, egress.Proxy.Trust?.FilesForNewSandbox());
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        // A long-lived sandbox's grant ends with it: nothing served under it after the sandbox has gone.
        _revokes?.Revoke();
        foreach (var serve in _serving) await serve.DisposeAsync().ConfigureAwait(false);
        if (_ownsNetwork) Network.Dispose();
    }
}

/// <summary>
/// A long-lived sandbox's network (a session's, a kernel's, a terminal's): the patterns resolved once when it was created.
/// Each incarnation of its sandbox gets a grant of its own for its owner (<see cref="GrantFor"/>), served for that
/// sandbox's whole life and revoked when it is destroyed (a restarted kernel gets a fresh one).
/// </summary>
public sealed record LongLivedEgress(EgressProxy Proxy, EgressPolicy Patterns)
{
    public SandboxEgress GrantFor(string principal, string sandboxId) => new(Proxy, Proxy.CreateGrant(principal, sandboxId, Patterns));
}
