using System.ComponentModel.DataAnnotations;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Warden.Server.Diagnostics;

namespace Warden.Server.Hosting;

/// <summary>Section <c>Warden</c>: how long running executions may finish after SIGTERM.</summary>
public sealed class ShutdownOptions
{
    /// <summary><c>Warden:ShutdownGraceSeconds</c>: then every execution still running is killed (and reported as such).</summary>
    [Range(0, 3600)] public double ShutdownGraceSeconds { get; set; } = 30;
}

/// <summary>
/// Graceful shutdown. On SIGTERM the host stops Kestrel, which stops accepting connections and waits for running
/// requests (its timeout is set to the grace period plus a margin). This service starts the grace clock when stopping
/// begins; when it runs out, <see cref="Token"/> fires and every execution still running is killed, so its caller still
/// gets a result (status killed) and its record reaches the history before the process exits.
/// </summary>
[SuppressMessage("Reliability", "CA1001", Justification = "_expired is never disposed on purpose: tokens linked to it may outlive the host (see StoppedAsync).")]
public sealed partial class ShutdownGrace(IOptions<ShutdownOptions> options, ILogger<ShutdownGrace> logger) : IHostedLifecycleService
{
    private readonly CancellationTokenSource _expired = new();
    private volatile bool _stopping;

    /// <summary>Fires when the grace period after SIGTERM is over.</summary>
    public CancellationToken Token => _expired.Token;

    /// <summary>True once shutdown began (readiness then fails, so load balancers stop sending).</summary>
    public bool Stopping => _stopping;

    public TimeSpan Grace => TimeSpan.FromSeconds(options.Value.ShutdownGraceSeconds);

    public Task StoppingAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        Log.Draining(logger, Grace.TotalSeconds);
        _expired.Token.Register(() => Log.GraceExpired(logger));
        _expired.CancelAfter(Grace);
        return Task.CompletedTask;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Everything finished in time: stop the clock. (The source is never disposed: tokens linked to it may outlive the host.)</summary>
    public Task StoppedAsync(CancellationToken cancellationToken)
    {
        if (!_expired.IsCancellationRequested) _expired.CancelAfter(Timeout.InfiniteTimeSpan);
        return Task.CompletedTask;
    }

    private static partial class Log
    {
        [LoggerMessage(EventIds.ShutdownDraining, LogLevel.Information, "Shutting down: running executions have {Seconds} s to finish")]
        public static partial void Draining(ILogger logger, double seconds);

        [LoggerMessage(EventIds.ShutdownGraceExpired, LogLevel.Warning, "Shutdown grace period over: killing executions still running")]
        public static partial void GraceExpired(ILogger logger);
    }
}
