namespace Warden.Core.Egress;

/// <summary>
/// Where the proxy writes one record per connection. The proxy awaits it, so a sink that applies back-pressure (a
/// bounded channel) slows connections down rather than dropping records.
/// </summary>
public interface IEgressAuditSink
{
    ValueTask RecordAsync(EgressRecord record, CancellationToken cancellationToken);
}

/// <summary>A sink from a delegate: how the server plugs its audit recorder in.</summary>
public sealed class DelegateEgressAuditSink(Func<EgressRecord, CancellationToken, ValueTask> recorder) : IEgressAuditSink
{
    public ValueTask RecordAsync(EgressRecord record, CancellationToken cancellationToken) => recorder(record, cancellationToken);
}

/// <summary>The default until a host registers its own: records go to metrics and the debug log only.</summary>
internal sealed class NullEgressAuditSink : IEgressAuditSink
{
    public ValueTask RecordAsync(EgressRecord record, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
