using System.Buffers;
using System.Text;

namespace Warden.Core.Egress;

internal sealed partial class EgressConnection
{
    // Hop-by-hop headers (RFC 9110 §7.6.1) and the proxy's own: never forwarded to an origin.
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate", "TE", "Trailer", "Upgrade",
    };

    // Framing and routing headers a client cannot have dropped by naming them in Connection: dropping Content-Length
    // would make the origin read the body as the next request.
    private static readonly HashSet<string> NeverDropped = new(StringComparer.OrdinalIgnoreCase) { "Host", "Content-Length", "Transfer-Encoding" };

    /// <summary>CONNECT: 200, then the ClientHello's SNI must be the CONNECT host before one byte reaches the origin.</summary>
    private async Task TunnelAsync(byte[] buffer, int consumed, int filled, string host, CancellationToken token)
    {
        filled = await AcknowledgeAndReadHelloAsync(buffer, consumed, filled, host, token).ConfigureAwait(false);
        if (filled < 0) return;
        _headTimer.CancelAfter(Timeout.InfiniteTimeSpan);
        _allowed = true;
        if (!Count(filled, 0)) return;
        await _upstream!.WriteAsync(buffer.AsMemory(0, filled), token).ConfigureAwait(false);
        _idleTimer.CancelAfter(_grant.Caps.IdleTimeout);
        var up = PumpAsync(_clientStream, _upstream, toOrigin: true, token);
        var down = PumpAsync(_upstream, _clientStream, toOrigin: false, token);
        await Task.WhenAll(up, down).ConfigureAwait(false);
    }

    /// <summary>
    /// Answers 200 to a CONNECT, then reads the client's TLS ClientHello into <paramref name="buffer"/> (from its start):
    /// the number of bytes read, or -1 (refused) unless it is TLS with an SNI equal to the CONNECT host.
    /// </summary>
    private async Task<int> AcknowledgeAndReadHelloAsync(byte[] buffer, int consumed, int filled, string host, CancellationToken token)
    {
        await _clientStream.WriteAsync(EgressResponses.ConnectEstablished, token).ConfigureAwait(false);
        // Bytes the client sent after the CONNECT head are the start of its ClientHello.
        var pending = filled - consumed;
        Buffer.BlockCopy(buffer, consumed, buffer, 0, pending);
        filled = pending;
        _headTimer.CancelAfter(_proxy.Settings.HeadTimeout);
        string? sni;
        while (true)
        {
            var parse = TlsClientHello.TryRead(buffer.AsSpan(0, filled), out sni);
            if (parse == SniParse.Found) break;
            if (parse == SniParse.Incomplete)
            {
                var n = await _clientStream.ReadAsync(buffer.AsMemory(filled, TlsClientHello.MaxBytes - filled), token).ConfigureAwait(false);
                if (n == 0) { Refused(EgressReasons.NotTls); return -1; }
                filled += n;
                continue;
            }
            Refused(parse == SniParse.NoSni ? EgressReasons.SniMismatch : EgressReasons.NotTls);
            return -1;
        }
        if (EgressHostName.Normalize(sni!) != host)
        {
            Refused(EgressReasons.SniMismatch);
            return -1;
        }
        return filled;
    }

    /// <summary>Plain HTTP: one request, rewritten to origin-form with hop-by-hop headers dropped, then the raw response.</summary>
    private async Task ForwardAsync(HttpRequestHead head, EgressTarget target, EgressCredential? credential, ReadOnlyMemory<byte> buffered,
        string host, bool upstreamTls, CancellationToken token)
    {
        var named = (head.Header("Connection") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(n => !NeverDropped.Contains(n)).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var text = new StringBuilder();
        text.Append(head.Method).Append(' ').Append(target.PathAndQuery).Append(" HTTP/1.1\r\n");
        var hasHost = false;
        foreach (var (name, value) in head.Headers)
        {
            if (HopByHop.Contains(name) || named.Contains(name)) continue;
            // The client's own value of a credentialed header is replaced, never sent alongside Warden's.
            if (credential is not null && name.Equals(credential.Header, StringComparison.OrdinalIgnoreCase)) continue;
            hasHost |= name.Equals("Host", StringComparison.OrdinalIgnoreCase);
            text.Append(name).Append(": ").Append(value).Append("\r\n");
        }
        if (!hasHost) text.Append("Host: ").Append(host).Append(target.Port == 80 ? "" : ":" + target.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append("\r\n");
        if (credential is not null) text.Append(credential.Header).Append(": ").Append(credential.Value).Append("\r\n");
        text.Append("Connection: close\r\n\r\n");
        if (upstreamTls)
        {
            try
            {
                _upstream = await _proxy.UpstreamTls.WrapAsync(_upstream!, host, token).ConfigureAwait(false);
            }
            catch (System.Security.Authentication.AuthenticationException)
            {
                // The secret goes only to an origin that proved it is this host.
                await RefuseAsync(502, EgressReasons.UpstreamTls, "the origin's TLS certificate is not valid for this host", token).ConfigureAwait(false);
                return;
            }
        }
        _allowed = true;
        _headTimer.CancelAfter(Timeout.InfiniteTimeSpan);
        _idleTimer.CancelAfter(_grant.Caps.IdleTimeout);
        var headBytes = Encoding.ASCII.GetBytes(text.ToString());
        if (!Count(headBytes.Length, 0)) return;
        await _upstream!.WriteAsync(headBytes, token).ConfigureAwait(false);
        _credentialsInjected = credential is not null;
        // The body, by the framing we parsed; anything after it (a pipelined request) is not forwarded.
        if (head.Chunked)
        {
            try
            {
                // Not disposed: it would close the client's stream, which the response still goes to.
                var source = new PrefixedStream(buffered, _clientStream);
                await ChunkedBody.CopyAsync(source, _upstream, n =>
                {
                    _idleTimer.CancelAfter(_grant.Caps.IdleTimeout);
                    return Count(n, 0);
                }, token).ConfigureAwait(false);
            }
            catch (InvalidDataException)
            {
                // The head already went out; the origin must not see a body end the proxy did not agree on.
                Refused(EgressReasons.BadRequest);
                CloseAll();
                return;
            }
            if (_reason == EgressReasons.CapBytes) return;
            await PumpAsync(_upstream, _clientStream, toOrigin: false, token).ConfigureAwait(false);
            return;
        }
        var remaining = head.ContentLength ?? 0;
        var first = buffered[..(int)Math.Min(remaining, buffered.Length)];
        if (first.Length > 0)
        {
            if (!Count(first.Length, 0)) return;
            await _upstream.WriteAsync(first, token).ConfigureAwait(false);
            remaining -= first.Length;
        }
        if (remaining > 0) await CopyBodyAsync(remaining, token).ConfigureAwait(false);
        await PumpAsync(_upstream, _clientStream, toOrigin: false, token).ConfigureAwait(false);
    }

    private async Task CopyBodyAsync(long remaining, CancellationToken token)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(RelayBufferBytes);
        try
        {
            while (remaining > 0)
            {
                var n = await _clientStream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(remaining, RelayBufferBytes)), token).ConfigureAwait(false);
                if (n == 0) throw new IOException("the client closed before the end of its request body");
                _idleTimer.CancelAfter(_grant.Caps.IdleTimeout);
                if (!Count(n, 0)) return;
                await _upstream!.WriteAsync(buffer.AsMemory(0, n), token).ConfigureAwait(false);
                remaining -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task PumpAsync(Stream from, Stream to, bool toOrigin, CancellationToken token)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(RelayBufferBytes);
        try
        {
            while (true)
            {
                var n = await from.ReadAsync(buffer.AsMemory(0, RelayBufferBytes), token).ConfigureAwait(false);
                if (n == 0) break;
                _idleTimer.CancelAfter(_grant.Caps.IdleTimeout);
                if (!(toOrigin ? Count(n, 0) : Count(0, n))) return;
                await to.WriteAsync(buffer.AsMemory(0, n), token).ConfigureAwait(false);
            }
            // Pass the end on (half-close) so the other side sees it; the opposite direction keeps running.
            if (to is System.Net.Sockets.NetworkStream ns) ns.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        }
        catch
        {
            // One direction failing ends the tunnel: the other must not wait for the idle timeout.
            CloseAll();
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Counts bytes about to be relayed; false (and every tunnel of the grant closing) once over the cap.</summary>
    private bool Count(long sent, long received)
    {
        if (!_grant.AddBytes(sent, received))
        {
            _reason = EgressReasons.CapBytes;
            CloseAll();
            return false;
        }
        _sent += sent;
        _received += received;
        return true;
    }

    private void Refused(string reason)
    {
        _allowed = false;
        _reason = reason;
    }

    private async Task RefuseAsync(int status, string reason, string detail, CancellationToken token)
    {
        Refused(reason);
        try
        {
            await _clientStream.WriteAsync(EgressResponses.Refusal(status, reason, _host, detail), token).ConfigureAwait(false);
            // Half-close, then drain briefly: closing with unread request bytes would send a reset that can destroy the
            // refusal before the client reads it.
            _client.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            using var drainTimer = new CancellationTokenSource(TimeSpan.FromSeconds(1), _proxy.Time);
            using var drain = CancellationTokenSource.CreateLinkedTokenSource(token, drainTimer.Token);
            var sink = ArrayPool<byte>.Shared.Rent(4096);
            try
            {
                for (var total = 0; total < 64 * 1024;)
                {
                    var n = await _clientStream.ReadAsync(sink, drain.Token).ConfigureAwait(false);
                    if (n == 0) break;
                    total += n;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(sink);
            }
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away; the refusal is recorded all the same.
        }
    }

    private void CloseAll()
    {
        _clientStream.Dispose();
        _rawClientStream.Dispose();
        _upstream?.Dispose();
    }

    private async Task FinishAsync()
    {
        if (_slot)
        {
            _grant.Release();
            _proxy.Metrics.Closed();
        }
        if (!_allowed) _grant.CountRefused();
        _proxy.Metrics.Connection(_allowed, _reason, _pattern);
        if (_pattern is not null) _proxy.Metrics.Bytes(_sent, _received, _pattern);
        var record = new EgressRecord(_proxy.Time.GetUtcNow(), _grant.Principal, _grant.RunId, _method, _host, _port, _address, _pattern,
            _allowed, _reason, _credentialsInjected, _sent, _received, _proxy.Time.GetElapsedTime(_started));
        if (!_allowed) Log.Refused(_proxy.Logger, _grant.RunId, _method, _host ?? "-", _port, _reason ?? "-");
        try
        {
            // Not cancellable by the proxy's own stop: a record is never dropped; the sink decides how long it may take.
            await _proxy.Audit.RecordAsync(record, CancellationToken.None).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // a failing sink is logged; it must not fault the connection task the accept loop tracks
        catch (Exception e)
#pragma warning restore CA1031
        {
            Log.AuditFailed(_proxy.Logger, _grant.RunId, e);
        }
    }
}
