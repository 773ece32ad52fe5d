using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Warden.Core.Execution;
using Warden.Server.Auth;
using Warden.Server.Hosting;

namespace Warden.Server.RateLimiting;

/// <summary>
/// ASP.NET Core's rate-limiting middleware with one chained global limiter: a token bucket per API key, a token bucket
/// per caller (user, else key, else IP) and a concurrency limit per caller. Refusals are 429 problems with Retry-After
/// and are counted in <c>warden_rejections_total</c>.
/// </summary>
public static class WardenRateLimits
{
    /// <param name="shared">Replicas share the limits in the database (Cluster/SharedQuotaMiddleware): no in-memory limiter then.</param>
    public static IServiceCollection AddWardenRateLimits(this IServiceCollection services, bool shared = false)
    {
        services.AddRateLimiter(_ => { });
        if (shared) return services;
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<RateLimitOptions>, ExecutionMetrics>((o, limits, metrics) =>
        {
            var l = limits.Value;
            var chain = new List<PartitionedRateLimiter<HttpContext>>();
            if (l.PerKeyPerMinute > 0)
            {
                chain.Add(PartitionedRateLimiter.Create<HttpContext, string>(context =>
                    Limited(context) && Caller.Of(context).KeyId is { } key
                        ? RateLimitPartition.GetTokenBucketLimiter("key:" + key, _ => Bucket(l.PerKeyPerMinute, l.PerKeyBurst))
                        : RateLimitPartition.GetNoLimiter("")));
            }
            if (l.PerMinute > 0)
            {
                chain.Add(PartitionedRateLimiter.Create<HttpContext, string>(context =>
                    Limited(context) ? RateLimitPartition.GetTokenBucketLimiter(Identity(context), _ => Bucket(l.PerMinute, l.Burst))
                        : RateLimitPartition.GetNoLimiter("")));
            }
            if (l.MaxConcurrentPerUser > 0)
            {
                chain.Add(PartitionedRateLimiter.Create<HttpContext, string>(context =>
                    Limited(context)
                        ? RateLimitPartition.GetConcurrencyLimiter(Identity(context), _ => new ConcurrencyLimiterOptions { PermitLimit = l.MaxConcurrentPerUser, QueueLimit = 0 })
                        : RateLimitPartition.GetNoLimiter("")));
            }
            if (chain.Count > 0) o.GlobalLimiter = chain.Count == 1 ? chain[0] : PartitionedRateLimiter.CreateChained([.. chain]);
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = (context, cancellationToken) => RejectAsync(context, metrics, cancellationToken);
        });
        return services;
    }

    /// <summary>Who a limit counts against: the end user when an authenticated caller names one, else the key, else the IP.</summary>
    public static string Identity(HttpContext context)
    {
        var caller = Caller.Of(context);
        if (caller.Authenticated && caller.UserId is { } user) return $"user:{caller.KeyId}:{user}";
        if (caller.Authenticated) return "key:" + caller.KeyId;
        return "ip:" + caller.ClientIp;
    }

    /// <summary>
    /// An execution endpoint, or a request a surface marked as one while it runs code (an MCP tool call: the /mcp
    /// endpoint also carries handshakes and streams, which must not count).
    /// </summary>
    private static bool Limited(HttpContext context) =>
        context.GetEndpoint()?.Metadata.GetMetadata<ExecutionEndpoint>() is not null || context.Items.ContainsKey(ExecutionEndpoint.Instance);

    /// <summary>
    /// Admits one execution of a request that is not an execution endpoint (an MCP tool call) through the same limiters:
    /// a lease to hold while it runs, or the refusal as an exception. Null when no in-memory limiter is configured.
    /// </summary>
    /// <exception cref="RateLimitedException">A rate limit or the per-user concurrency cap refused it (counted in the metrics).</exception>
    public static async ValueTask<RateLimitLease?> AdmitAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var limiter = context.RequestServices.GetRequiredService<IOptions<RateLimiterOptions>>().Value.GlobalLimiter;
        if (limiter is null) return null;
        context.Items[ExecutionEndpoint.Instance] = true;
        var lease = await limiter.AcquireAsync(context, 1, cancellationToken);
        if (lease.IsAcquired) return lease;
        bool rate = lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter);
        lease.Dispose();
        context.RequestServices.GetRequiredService<ExecutionMetrics>().Rejected(rate ? "rate_limit" : "concurrency");
        var seconds = rate ? Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)) : 1;
        throw new RateLimitedException(rate
            ? $"Rate limit exceeded for {Identity(context)}; retry in {seconds} s."
            : $"{Identity(context)} already has the maximum number of executions running.", TimeSpan.FromSeconds(seconds));
    }

    /// <summary>
    /// A bucket of <paramref name="burst"/> tokens refilled at <paramref name="perMinute"/>. The refill period is at least
    /// 100 ms (the partitioned limiter's replenishment tick) with a whole number of tokens per period, so the rate is exact.
    /// </summary>
    internal static TokenBucketRateLimiterOptions Bucket(int perMinute, int burst)
    {
        int tokens = Math.Max(1, (int)Math.Ceiling(perMinute / 600.0));
        return new TokenBucketRateLimiterOptions
        {
            TokenLimit = Math.Max(burst, tokens),
            TokensPerPeriod = tokens,
            ReplenishmentPeriod = TimeSpan.FromTicks(TimeSpan.TicksPerMinute * tokens / perMinute),
            QueueLimit = 0,
            AutoReplenishment = true,
        };
    }

    private static async ValueTask RejectAsync(OnRejectedContext rejected, ExecutionMetrics metrics, CancellationToken cancellationToken)
    {
        bool rate = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter);
        await WriteRejectionAsync(rejected.HttpContext, metrics, rate, retryAfter);
    }

    /// <summary>The 429 problem of a refusal (a rate limit, with how long to wait; or the concurrency cap), counted in the metrics.</summary>
    internal static async Task WriteRejectionAsync(HttpContext context, ExecutionMetrics metrics, bool rate, TimeSpan retryAfter)
    {
        context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        metrics.Rejected(rate ? "rate_limit" : "concurrency");
        var seconds = rate ? Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)) : 1;
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        var problems = context.RequestServices.GetRequiredService<IProblemDetailsService>();
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails
            {
                Status = 429, Type = WardenExceptionHandler.TypeBase + (rate ? "rate-limited" : "too-many-concurrent"),
                Title = "Too many requests",
                Detail = rate
                    ? $"Rate limit exceeded for {Identity(context)}; retry in {seconds} s."
                    : $"{Identity(context)} already has the maximum number of executions running.",
                Instance = context.Request.Path,
            },
        });
    }
}
