namespace Warden.Core.Egress;

/// <summary>
/// One audit record per connection, allowed or refused. <see cref="Reason"/> is the refusal reason, or for an allowed
/// connection why it ended early (<c>cap_bytes</c>, <c>revoked</c>, <c>idle_timeout</c>), else null. Credentials are
/// recorded as injected or not, never their value.
/// </summary>
public sealed record EgressRecord(
    DateTimeOffset Time,
    string Principal,
    string RunId,
    string Method,
    string? Host,
    int Port,
    string? Address,
    string? Pattern,
    bool Allowed,
    string? Reason,
    bool CredentialsInjected,
    long BytesSent,
    long BytesReceived,
    TimeSpan Duration);
