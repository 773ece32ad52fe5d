using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Warden.Core.Egress;
using Warden.Server.Diagnostics;

namespace Warden.Server.History;

/// <summary>
/// The proxy's audit sink: one <c>"event": "egress"</c> line per connection (allowed or refused) in the audit log,
/// beside the execution lines. Records go through a bounded channel; when it is full the proxy waits (back-pressure
/// slows connections), so no record is dropped. One writer appends each batch through the shared <see cref="AuditLog"/>.
/// Without an audit log (auditing off) records are counted by the proxy's metrics only.
/// </summary>
public sealed partial class EgressAuditRecorder : IEgressAuditSink, IHostedLifecycleService, IAsyncDisposable
{
    private const int Capacity = 4096;
    private const int BatchSize = 256;

    private readonly Channel<EgressRecord> _channel = Channel.CreateBounded<EgressRecord>(new BoundedChannelOptions(Capacity)
    {
        FullMode = BoundedChannelFullMode.Wait, SingleReader = true,
    });
    private readonly AuditLog? _audit;
    private readonly ILogger<EgressAuditRecorder> _logger;
    private Task _writer = Task.CompletedTask;
    private long _written;

    public EgressAuditRecorder(ExecutionRecorder recorder, ILogger<EgressAuditRecorder> logger)
    {
        ArgumentNullException.ThrowIfNull(recorder);
        _audit = recorder.Audit;
        _logger = logger;
    }

    /// <summary>Egress lines written so far.</summary>
    public long Written => Interlocked.Read(ref _written);

    public async ValueTask RecordAsync(EgressRecord record, CancellationToken cancellationToken)
    {
        if (_audit is null) return;
        // Not the connection's token: a connection that was cut still gets its line.
        try { await _channel.Writer.WriteAsync(record, CancellationToken.None).ConfigureAwait(false); }
        catch (ChannelClosedException) { Log.AfterShutdown(_logger, record.RunId, record.Host ?? ""); }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_audit is not null) _writer = Task.Run(WriteLoopAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>After the server stopped (registered after the execution recorder, so it stops first): write what is queued.</summary>
    public async Task StoppedAsync(CancellationToken cancellationToken) => await DrainAsync().ConfigureAwait(false);

    public async ValueTask DisposeAsync() => await DrainAsync().ConfigureAwait(false);

    private async Task DrainAsync()
    {
        _channel.Writer.TryComplete();
        try { await _writer.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false); }
        catch (TimeoutException) { Log.DrainTimedOut(_logger); }
    }

    private async Task WriteLoopAsync()
    {
        var reader = _channel.Reader;
        var text = new StringBuilder();
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            int count = 0;
            while (count < BatchSize && reader.TryRead(out var record))
            {
                text.Append(JsonSerializer.Serialize(EgressAuditLine.From(record), EgressAuditJson.Default.EgressAuditLine)).Append('\n');
                count++;
            }
            try
            {
                await _audit!.AppendLinesAsync(text.ToString(), CancellationToken.None).ConfigureAwait(false);
                Interlocked.Add(ref _written, count);
            }
            catch (IOException e)
            {
                Log.WriteFailed(_logger, count, e);
            }
            text.Clear();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventIds.EgressAuditWriteFailed, LogLevel.Error, "{Count} egress audit lines could not be written")]
        public static partial void WriteFailed(ILogger logger, int count, Exception exception);

        [LoggerMessage(EventIds.EgressAuditAfterShutdown, LogLevel.Warning, "An egress connection of {RunId} to {Host} ended after the audit recorder shut down; not recorded")]
        public static partial void AfterShutdown(ILogger logger, string runId, string host);

        [LoggerMessage(EventIds.EgressAuditDrainTimedOut, LogLevel.Error, "Shutdown: egress audit lines were still queued after 30 s")]
        public static partial void DrainTimedOut(ILogger logger);
    }
}

/// <summary>One egress audit line: the time first, as log shippers expect, then what the proxy decided.</summary>
public sealed record EgressAuditLine(
    DateTimeOffset Time, string Event, string Principal, string RunId, string Method, string? Host, int Port, string? Address,
    string? Pattern, string Decision, string? Reason, bool CredentialsInjected, long BytesSent, long BytesReceived, long DurationMs)
{
    public static EgressAuditLine From(EgressRecord r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return new(r.Time, "egress", r.Principal, r.RunId, r.Method, r.Host, r.Port, r.Address, r.Pattern, r.Allowed ? "allowed" : "refused",
            r.Reason, r.CredentialsInjected, r.BytesSent, r.BytesReceived, (long)r.Duration.TotalMilliseconds);
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(EgressAuditLine))]
internal sealed partial class EgressAuditJson : JsonSerializerContext;
