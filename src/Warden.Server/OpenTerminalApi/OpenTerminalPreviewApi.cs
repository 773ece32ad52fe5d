using System.Globalization;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using Warden.Core.Execution;
using Warden.Core.Terminals;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// Previews of a server the user runs in their own sandbox: <c>GET /ports</c> lists its listeners, and
/// <c>/proxy/{port}/{path}</c> relays HTTP (and a WebSocket upgrade) to <c>localhost:{port}</c> <b>inside that
/// sandbox</b>. The relay is the user's own agent (it connects on the sandbox's loopback and streams the bytes back),
/// so the sandbox keeps no network of its own and no request can reach another user's sandbox: the caller's identity
/// picks the sandbox, the port only picks a listener in it.
/// </summary>
internal static class OpenTerminalPreviewApi
{
    private static readonly string[] Methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

    /// <summary>Headers about one hop only (RFC 9110 §7.6.1), and credentials meant for this server or Open WebUI, never the user's server.</summary>
    private static readonly HashSet<string> NotForwarded = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding",
        "Upgrade", "Host", "Authorization", "Cookie", "X-OpenWebUI-User-Jwt",
    };

    private static readonly HashSet<string> NotReturned = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
    };

    public static void Map(RouteGroupBuilder root)
    {
        var owned = root.MapGroup("").WithMetadata(TerminalCaller.Owned);
        owned.MapGet("/ports", PortsAsync).ExcludeFromDescription();
        owned.MapMethods("/proxy/{port}/{**path}", Methods, ProxyAsync).ExcludeFromDescription();
    }

    /// <summary>The listeners of the caller's sandbox; none while it is not running (a poll never starts one).</summary>
    private static async Task<IResult> PortsAsync(TerminalCaller caller, IOptions<TerminalOptions> terminal, CancellationToken cancellationToken)
    {
        if (!caller.Terminal.IsRunning || !terminal.Value.Previews) return TypedResults.Text("{\"ports\":[]}", "application/json");
        return TypedResults.Ok(await caller.Terminal.PortsAsync(cancellationToken));
    }

    private static async Task ProxyAsync(TerminalCaller caller, HttpContext context, string port, string? path, IOptions<OpenTerminalUiOptions> ui,
        IOptions<TerminalOptions> terminalOptions, CancellationToken cancellationToken)
    {
        if (!terminalOptions.Value.Previews)
        {
            await Problem(context, 403, "Terminal web previews are disabled on this server (Warden:Terminal:Previews).");
            return;
        }
        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && !port.All(char.IsAsciiDigit))
            throw new InvalidRequestException("port must be an integer.", "port");
        if (number is < 1 or > 65535)
        {
            await Problem(context, 422, "Port must be between 1 and 65535");
            return;
        }
        var options = ui.Value;
        var timeout = TimeSpan.FromSeconds(options.PreviewTimeoutSeconds);
        if (!caller.Terminal.IsRunning)
        {
            // Nothing listens in a sandbox that is not running; do not start one to find that out.
            await Problem(context, 502, $"Connection refused: localhost:{number}");
            return;
        }
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = options.MaxPreviewBodyBytes;
        var terminal = caller.Terminal;
        // One connection per request, made by this user's agent: nothing pooled could ever carry another user's request.
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) => await terminal.ConnectAsync(number, timeout, ct).ConfigureAwait(false),
            UseProxy = false, UseCookies = false, AllowAutoRedirect = false, AutomaticDecompression = System.Net.DecompressionMethods.None,
            PooledConnectionLifetime = TimeSpan.Zero, ConnectTimeout = timeout,
        };
        using var invoker = new HttpMessageInvoker(handler);
        var upgrade = context.Features.Get<IHttpUpgradeFeature>();
        bool webSocket = upgrade is { IsUpgradableRequest: true }
            && string.Equals(context.Request.Headers.Upgrade, "websocket", StringComparison.OrdinalIgnoreCase);
        using var request = BuildRequest(context, number, path, webSocket);
        using var headersTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        headersTimeout.CancelAfter(timeout);
        HttpResponseMessage response;
        try
        {
            response = await invoker.SendAsync(request, headersTimeout.Token);
        }
        catch (HttpRequestException e) when (e.InnerException is PreviewConnectException { TimedOut: false } || e.HttpRequestError == HttpRequestError.ConnectionError)
        {
            await Problem(context, 502, $"Connection refused: localhost:{number}");
            return;
        }
        catch (Exception e) when (e is PreviewConnectException or HttpRequestException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            await Problem(context, 504, $"Timeout connecting to localhost:{number}");
            return;
        }
        using (response)
        {
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            {
                if (NotReturned.Contains(name) && !(webSocket && response.StatusCode == System.Net.HttpStatusCode.SwitchingProtocols)) continue;
                context.Response.Headers[name] = values.ToArray();
            }
            PreviewHeaders.Apply(context.Response.Headers, options);
            if (webSocket && response.StatusCode == System.Net.HttpStatusCode.SwitchingProtocols)
            {
                await RelayUpgradedAsync(upgrade!, response, cancellationToken);
                return;
            }
            // Kestrel frames the answer itself.
            context.Response.Headers.Remove("Transfer-Encoding");
            if (HttpMethods.IsHead(context.Request.Method)) return;
            await CopyCappedAsync(await response.Content.ReadAsStreamAsync(cancellationToken), context, options.MaxPreviewBodyBytes, cancellationToken);
        }
    }

    private static HttpRequestMessage BuildRequest(HttpContext context, int port, string? path, bool webSocket)
    {
        var target = new Uri($"http://localhost:{port.ToString(CultureInfo.InvariantCulture)}/{path}{context.Request.QueryString}");
        var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), target)
        {
            Version = System.Net.HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        bool hasBody = context.Request.ContentLength > 0 || context.Request.Headers.TransferEncoding.Count > 0;
        if (hasBody) request.Content = new StreamContent(context.Request.Body);
        foreach (var (name, values) in context.Request.Headers)
        {
            if (NotForwarded.Contains(name) || name.StartsWith(':')) continue;
            if (!request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values)) request.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
        }
        if (webSocket)
        {
            request.Headers.TryAddWithoutValidation("Connection", "Upgrade");
            request.Headers.TryAddWithoutValidation("Upgrade", "websocket");
        }
        return request;
    }

    /// <summary>Streams the server's answer to the client; past the cap the connection is cut (no clean end).</summary>
    private static async Task CopyCappedAsync(Stream source, HttpContext context, long cap, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        long sent = 0;
        try
        {
            int n;
            while ((n = await source.ReadAsync(buffer, cancellationToken)) > 0)
            {
                sent += n;
                if (sent > cap)
                {
                    context.Abort();
                    return;
                }
                await context.Response.Body.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
            }
        }
        catch (IOException)
        {
            context.Abort();
        }
        catch (HttpRequestException)
        {
            context.Abort();
        }
    }

    /// <summary>After a 101 from the server in the sandbox: the two connections are joined until either side ends.</summary>
    private static async Task RelayUpgradedAsync(IHttpUpgradeFeature upgrade, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var upstream = await response.Content.ReadAsStreamAsync(cancellationToken);
        await using var client = await upgrade.UpgradeAsync();
        using var done = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var toServer = PumpAsync(client, upstream, done.Token);
        var toClient = PumpAsync(upstream, client, done.Token);
        await Task.WhenAny(toServer, toClient);
        await done.CancelAsync();
        await Task.WhenAll(toServer, toClient);
        await upstream.DisposeAsync();
    }

    private static async Task PumpAsync(Stream from, Stream to, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int n;
            while ((n = await from.ReadAsync(buffer, cancellationToken)) > 0)
            {
                await to.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
                await to.FlushAsync(cancellationToken);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or HttpRequestException)
        {
        }
    }

    /// <summary>open-terminal's HTTPException answers, as this server's problems (Open WebUI reads <c>detail</c>).</summary>
    private static Task Problem(HttpContext context, int status, string detail) =>
        TypedResults.Problem(detail: detail, statusCode: status, type: Hosting.WardenExceptionHandler.TypeBase + (status switch
        {
            422 => "invalid-request",
            504 => "preview-timeout",
            403 => "previews-disabled",
            _ => "preview-unreachable",
        })).ExecuteAsync(context);
}
