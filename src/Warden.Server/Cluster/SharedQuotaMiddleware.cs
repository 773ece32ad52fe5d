using System.Data.Common;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Warden.Core.Execution;
using Warden.Server.Auth;
using Warden.Server.RateLimiting;

namespace Warden.Server.Cluster;

/// <summary>
/// The rate limits and the per-caller concurrency cap of <see cref="RateLimitOptions"/>, counted across every replica
/// (in cluster mode this replaces the in-memory limiter): per API key, then per caller, then concurrency, the same order
/// and the same 429 answers as a single server. Runs after routing, so a request forwarded to its owner is counted once,
/// there. When the database cannot be asked the request is refused with 503: a limit that silently stops applying is not one.
/// </summary>
internal sealed class SharedQuotaMiddleware(RequestDelegate next, SharedQuotaStore store, IOptions<RateLimitOptions> options, ExecutionMetrics metrics)
{
    private readonly RateLimitOptions _limits = options.Value;

    public async Task InvokeAsync(HttpContext context)
    {
        bool limited = _limits.PerKeyPerMinute > 0 || _limits.PerMinute > 0 || _limits.MaxConcurrentPerUser > 0;
        if (!limited || context.GetEndpoint()?.Metadata.GetMetadata<ExecutionEndpoint>() is null)
        {
            await next(context);
            return;
        }
        var identity = WardenRateLimits.Identity(context);
        string? lease = null;
        try
        {
            if (_limits.PerKeyPerMinute > 0 && Caller.Of(context).KeyId is { } key)
            {
                var (taken, retry) = await store.TakeTokenAsync("key:" + key, _limits.PerKeyPerMinute, _limits.PerKeyBurst, context.RequestAborted);
                if (!taken)
                {
                    await WardenRateLimits.WriteRejectionAsync(context, metrics, rate: true, retry);
                    return;
                }
            }
            if (_limits.PerMinute > 0)
            {
                var (taken, retry) = await store.TakeTokenAsync(identity, _limits.PerMinute, _limits.Burst, context.RequestAborted);
                if (!taken)
                {
                    await WardenRateLimits.WriteRejectionAsync(context, metrics, rate: true, retry);
                    return;
                }
            }
            if (_limits.MaxConcurrentPerUser > 0)
            {
                lease = await store.AcquireLeaseAsync(identity, _limits.MaxConcurrentPerUser, context.RequestAborted);
                if (lease is null)
                {
                    await WardenRateLimits.WriteRejectionAsync(context, metrics, rate: false, TimeSpan.Zero);
                    return;
                }
            }
        }
        catch (Exception e) when (e is DbException or TimeoutException && !context.RequestAborted.IsCancellationRequested)
        {
            throw new ClusterDatabaseUnavailableException("The shared rate limits could not be checked: the cluster's database did not answer. Retry shortly.", e);
        }
        try
        {
            await next(context);
        }
        finally
        {
            if (lease is not null)
            {
                // Not the request's token: the lease must be returned even when the client went away.
                try { await store.ReleaseLeaseAsync(lease, CancellationToken.None); }
                catch (Exception e) when (e is DbException or TimeoutException or InvalidOperationException)
                {
                    // The membership's next sync deletes leases no request holds.
                }
            }
        }
    }
}
