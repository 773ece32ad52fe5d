using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Warden.Server.Cluster;

/// <summary>
/// The one connection pool for talking to other replicas (forwarded requests, relayed WebSockets, cluster-wide lists).
/// A short connect timeout is what turns "the owner is gone" into a prompt 503 instead of a hang; there is no overall
/// timeout, because a forwarded cell may rightly run for minutes (loss of the owner ends it instead: <see cref="ClusterMembership.WatchLoss"/>).
/// </summary>
public sealed class ClusterTransport : IDisposable
{
    public const string ForwardedByHeader = "X-Warden-Forwarded-By";
    public const string OwnerHeader = "X-Warden-Owner";
    public const string ReplicaHeader = "X-Warden-Replica";
    public const string ViaHeader = "X-Warden-Via";
    public const string IncompleteHeader = "X-Warden-Incomplete";

    // Hop-by-hop (RFC 9110 §7.6.1) and those the transport sets itself: never copied between legs.
    private static readonly HashSet<string> NotCopied = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding",
        "Upgrade", "Host",
    };

    private readonly SocketsHttpHandler _handler;

    public ClusterTransport(IOptions<ClusterOptions> options, ReplicaIdentity self)
    {
        Self = self;
        _handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(options.Value.ConnectTimeoutSeconds),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            // A replica's address may be reused by a new replica: do not keep connections to it for long.
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
        Invoker = new HttpMessageInvoker(_handler, disposeHandler: false);
    }

    public ReplicaIdentity Self { get; }

    public HttpMessageInvoker Invoker { get; }

    /// <summary>The value of <see cref="OwnerHeader"/> naming one incarnation of a replica.</summary>
    public static string OwnerValue(string replicaId, string incarnation) => replicaId + "/" + incarnation;

    public static bool IsCopied(string header) =>
        !NotCopied.Contains(header) && !header.StartsWith("X-Warden-", StringComparison.OrdinalIgnoreCase);

    /// <summary>The request to send to <paramref name="owner"/>: same method, path, query and headers, marked as forwarded (never forwarded again).</summary>
    public HttpRequestMessage CreateRequest(HttpContext context, ReplicaRow owner, bool withBody)
    {
        var request = context.Request;
        var target = new Uri(owner.AdvertiseUrl, request.PathBase.ToUriComponent() + ForwardedPath.Of(context).ToUriComponent() + request.QueryString.ToUriComponent());
        var message = new HttpRequestMessage(new HttpMethod(request.Method), target)
        {
            Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        if (withBody && (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)) message.Content = new StreamContent(request.Body);
        foreach (var (name, values) in request.Headers)
        {
            if (!IsCopied(name)) continue;
            if (!message.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values)) message.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
        }
        foreach (var (name, value) in MarkerHeaders(context, owner)) message.Headers.TryAddWithoutValidation(name, value);
        return message;
    }

    /// <summary>What marks a request as forwarded by this replica to <paramref name="owner"/>, plus the usual proxy headers.</summary>
    public IEnumerable<(string Name, string Value)> MarkerHeaders(HttpContext context, ReplicaRow owner)
    {
        yield return (ForwardedByHeader, Self.ReplicaId);
        yield return (OwnerHeader, OwnerValue(owner.Id, owner.Incarnation));
        var client = Auth.Caller.ClientAddress(context);
        var prior = context.Request.Headers["X-Forwarded-For"].ToString();
        yield return ("X-Forwarded-For", prior.Length > 0 ? prior + ", " + client : client);
        if (context.Request.Headers["X-Forwarded-Proto"].Count == 0) yield return ("X-Forwarded-Proto", context.Request.Scheme);
        if (context.Request.Headers["X-Forwarded-Host"].Count == 0 && context.Request.Host.HasValue) yield return ("X-Forwarded-Host", context.Request.Host.Value!);
    }

    public void Dispose()
    {
        Invoker.Dispose();
        _handler.Dispose();
    }
}
