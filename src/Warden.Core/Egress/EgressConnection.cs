using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;

namespace Warden.Core.Egress;

/// <summary>
/// One client connection: read the head, decide, resolve once, dial a vetted address, then tunnel (CONNECT) or
/// forward one request (plain HTTP). Ends with one audit record, whatever happened.
/// </summary>
internal sealed partial class EgressConnection : IDisposable
{
    private const int RelayBufferBytes = 64 * 1024;
    private readonly EgressProxy _proxy;
    private readonly EgressGrant _grant;
    private readonly Socket _client;
    private readonly Stream _rawClientStream;
    // The client's stream; after a terminated CONNECT, the proxy's own TLS over the raw one.
    private Stream _clientStream;
    private readonly CancellationTokenSource _headTimer;
    private readonly CancellationTokenSource _idleTimer;
    private readonly long _started;
    private Stream? _upstream;
    private CancellationTokenRegistration _grantClosed;
    private string _method = "-";
    private string? _host;
    private int _port;
    private string? _address;
    private string? _pattern;
    private bool _allowed;
    private string? _reason;
    private bool _credentialsInjected;
    private bool _slot;
    private long _sent;
    private long _received;

    public EgressConnection(EgressProxy proxy, EgressGrant grant, Socket client)
    {
        _proxy = proxy;
        _grant = grant;
        _client = client;
        _client.NoDelay = true;
        _rawClientStream = new NetworkStream(client, ownsSocket: true);
        _clientStream = _rawClientStream;
        _headTimer = new CancellationTokenSource(proxy.Settings.HeadTimeout, proxy.Time);
        _idleTimer = new CancellationTokenSource(Timeout.InfiniteTimeSpan, proxy.Time);
        _started = proxy.Time.GetTimestamp();
    }

    public async Task RunAsync(CancellationToken serveToken)
    {
        // The grant's own closing (revocation, bytes cap) is joined only once a slot is claimed: before that, a closed grant
        // is a refusal the client should read, not a silent close.
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(serveToken, _headTimer.Token, _idleTimer.Token);
        // Closing the sockets is what interrupts a read or write in flight; a token alone would wait for the peer.
        using var closeOnCancel = linked.Token.Register(static state => ((EgressConnection)state!).CloseAll(), this);
        try
        {
            await HandleAsync(linked.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or AuthenticationException)
        {
            _reason ??= _grant.ClosedReason
                ?? (_idleTimer.IsCancellationRequested ? EgressReasons.IdleTimeout
                    : _headTimer.IsCancellationRequested ? EgressReasons.HeadTimeout : null);
        }
#pragma warning disable CA1031 // one connection's bug must not take the accept loop (or the process) down
        catch (Exception e)
#pragma warning restore CA1031
        {
            Log.ConnectionFailed(_proxy.Logger, _grant.RunId, _host ?? "-", e);
            _reason ??= "internal_error";
        }
        finally
        {
            // Closing the sockets under a relay can end its reads cleanly (0 bytes) instead of with an error: the grant's
            // closing is still why this connection ended.
            if (_slot && _grant.Closed.IsCancellationRequested) _reason ??= _grant.ClosedReason;
            Dispose();
            await FinishAsync().ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _grantClosed.Dispose();
        CloseAll();
        _headTimer.Dispose();
        _idleTimer.Dispose();
    }

    private async Task HandleAsync(CancellationToken token)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(HttpRequestHead.MaxBytes);
        try
        {
            var (head, consumed, filled) = await ReadHeadAsync(buffer, EgressReasons.BadRequest, token).ConfigureAwait(false);
            if (head is null) return;
            _method = head.Method;
            if (!EgressTarget.TryFrom(head, out var target, out var targetError))
            {
                await RefuseAsync(400, EgressReasons.BadRequest, targetError!, token).ConfigureAwait(false);
                return;
            }
            _host = target!.Host;
            _port = target.Port;
            if (EgressHostName.IsLiteral(target.Host))
            {
                await RefuseAsync(403, EgressReasons.IpLiteral, "IP addresses are never reachable; use a host name", token).ConfigureAwait(false);
                return;
            }
            var host = EgressHostName.Normalize(target.Host);
            if (host is null) { await RefuseAsync(400, EgressReasons.BadRequest, "not a host name", token).ConfigureAwait(false); return; }
            _host = host;
            var connect = head.IsConnect;
            // The grant must allow it, and so must the ceiling (whose matched pattern labels the metrics).
            var ceilingPattern = _proxy.Ceiling.Allows(host, _port, connect);
            if (_grant.Patterns.Allows(host, _port, connect) is null || ceilingPattern is null)
            {
                await RefuseAsync(403, EgressReasons.NotAllowed, "not in this sandbox's egress allow list", token).ConfigureAwait(false);
                return;
            }
            _pattern = ceilingPattern.Text;
            _proxy.Settings.Credentials.TryGetValue(host, out var credential);
            if (connect && credential is { Terminate: false })
            {
                await RefuseAsync(403, EgressReasons.CredentialedUseHttp, $"use http://{host}/: the proxy adds this host's credentials and speaks TLS to it", token).ConfigureAwait(false);
                return;
            }
            if (_grant.TryOpen() is { } capReason)
            {
                await RefuseAsync(403, capReason, capReason == EgressReasons.NoGrant ? "this sandbox's egress has ended" : "this run's egress cap is reached", token).ConfigureAwait(false);
                return;
            }
            _slot = true;
            _grantClosed = _grant.Closed.Register(static state => ((EgressConnection)state!).CloseAll(), this);
            _proxy.Metrics.Opened();
            // http://host/ to a host whose credentials go over TLS: the proxy speaks TLS on 443 itself.
            var dialPort = credential?.Upstream == EgressUpstream.Https && _port == 80 ? 443 : _port;
            var upstream = await DialAsync(host, dialPort, token).ConfigureAwait(false);
            if (upstream is null) return;
            _upstream = new NetworkStream(upstream, ownsSocket: true);
            if (token.IsCancellationRequested) CloseAll();
            if (connect && credential is not null) await TerminateAsync(buffer, consumed, filled, host, credential, token).ConfigureAwait(false);
            else if (connect) await TunnelAsync(buffer, consumed, filled, host, token).ConfigureAwait(false);
            else await ForwardAsync(head, target, credential, buffer.AsMemory(consumed, filled - consumed), host, credential?.Upstream == EgressUpstream.Https, token).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Reads one request head from the client into <paramref name="buffer"/>; a null head after answering (or seeing the end).</summary>
    private async Task<(HttpRequestHead? Head, int Consumed, int Filled)> ReadHeadAsync(byte[] buffer, string endReason, CancellationToken token)
    {
        var filled = 0;
        while (true)
        {
            var parse = HttpRequestHead.TryParse(buffer.AsSpan(0, filled), out var head, out var consumed, out var error);
            if (parse == HeadParse.Complete) return (head, consumed, filled);
            if (parse == HeadParse.Invalid)
            {
                await RefuseAsync(400, EgressReasons.BadRequest, error!, token).ConfigureAwait(false);
                return (null, 0, 0);
            }
            var n = await _clientStream.ReadAsync(buffer.AsMemory(filled, HttpRequestHead.MaxBytes - filled), token).ConfigureAwait(false);
            if (n == 0)
            {
                _reason = endReason;
                return (null, 0, 0);
            }
            filled += n;
        }
    }

    /// <summary>Resolves once, vets every answer, dials vetted addresses in turn; null after answering the refusal.</summary>
    private async Task<Socket?> DialAsync(string host, int port, CancellationToken token)
    {
        var started = _proxy.Time.GetTimestamp();
        IPAddress[] answers;
        using (var resolveTimer = new CancellationTokenSource(_proxy.Settings.ResolveTimeout, _proxy.Time))
        using (var resolveToken = CancellationTokenSource.CreateLinkedTokenSource(token, resolveTimer.Token))
        {
            try
            {
                answers = await _proxy.Resolver.ResolveAsync(host, resolveToken.Token).ConfigureAwait(false);
            }
            catch (Exception e) when ((e is SocketException or ArgumentException) || (e is OperationCanceledException && resolveTimer.IsCancellationRequested && !token.IsCancellationRequested))
            {
                answers = [];
            }
        }
        if (answers.Length == 0)
        {
            await RefuseAsync(502, EgressReasons.DnsFailed, "the name does not resolve", token).ConfigureAwait(false);
            return null;
        }
        var vetted = new List<IPAddress>();
        (IPAddress Address, AddressVerdict Verdict)? refused = null;
        foreach (var address in answers)
        {
            var verdict = _proxy.Addresses.Check(address, port);
            if (verdict == AddressVerdict.Allowed) vetted.Add(address);
            else if (refused is null || verdict == AddressVerdict.OwnEndpoint) refused = (address, verdict);
        }
        if (vetted.Count == 0)
        {
            var (address, verdict) = refused!.Value;
            _address = address.ToString();
            if (verdict == AddressVerdict.OwnEndpoint)
                await RefuseAsync(403, EgressReasons.OwnEndpoint, $"resolves to {address}:{port}, one of Warden's own endpoints", token).ConfigureAwait(false);
            else
                await RefuseAsync(403, EgressReasons.PrivateAddress, $"resolves to {address}, a private, loopback or link-local address", token).ConfigureAwait(false);
            return null;
        }
        foreach (var address in vetted)
        {
            _address = address.ToString();
            using var connectTimer = new CancellationTokenSource(_proxy.Settings.ConnectTimeout, _proxy.Time);
            using var connectToken = CancellationTokenSource.CreateLinkedTokenSource(token, connectTimer.Token);
            try
            {
                var socket = await _proxy.Connector.ConnectAsync(new IPEndPoint(address, port), connectToken.Token).ConfigureAwait(false);
                _proxy.Metrics.Connected(_proxy.Time.GetElapsedTime(started), _pattern!);
                return socket;
            }
            catch (Exception e) when (e is SocketException || (e is OperationCanceledException && connectTimer.IsCancellationRequested && !token.IsCancellationRequested))
            {
                // Try the next vetted address.
            }
        }
        await RefuseAsync(502, EgressReasons.ConnectFailed, $"could not connect to port {port}", token).ConfigureAwait(false);
        return null;
    }
}
