namespace Warden.Core.Execution;

/// <summary>
/// A request Core refuses. The type tells an API surface what to answer: nothing was started and nothing is left behind.
/// </summary>
public abstract class WardenException(string message) : Exception(message)
{
    /// <summary>A stable machine-readable kind, used as the problem type suffix.</summary>
    public abstract string Kind { get; }
}

/// <summary>The request is malformed or asks for something not allowed (maps to 400).</summary>
public sealed class InvalidRequestException(string message, string? parameter = null) : WardenException(message)
{
    public string? Parameter { get; } = parameter;
    public override string Kind => "invalid-request";
}

/// <summary>The requested language is not in the catalog or not installed (maps to 400).</summary>
public sealed class UnknownLanguageException(string language, IEnumerable<string> available)
    : WardenException($"Unknown language '{language}'. Available: {string.Join(", ", available)}.")
{
    public string Language { get; } = language;
    public override string Kind => "unknown-language";
}

/// <summary>A limit in the request is above the server's ceiling (maps to 400, naming the limit).</summary>
public sealed class LimitAboveCeilingException(string limit, double requested, double ceiling)
    : WardenException($"Requested {limit} = {requested} is above the server's ceiling of {ceiling}.")
{
    public string Limit { get; } = limit;
    public override string Kind => "limit-above-ceiling";
}

/// <summary>The code or files are larger than the server accepts (maps to 413).</summary>
public sealed class PayloadTooLargeException(string message) : WardenException(message)
{
    public override string Kind => "payload-too-large";
}

/// <summary>Every worker is busy and the queue is full (maps to 503 with Retry-After).</summary>
public sealed class CapacityExceededException(string message, TimeSpan retryAfter) : WardenException(message)
{
    public TimeSpan RetryAfter { get; } = retryAfter;
    public override string Kind => "capacity-exceeded";
}

/// <summary>No session (or kernel) has this id: it never existed, was deleted or was reaped when idle (maps to 404).</summary>
public sealed class SessionNotFoundException(string sessionId)
    : WardenException($"No session with id '{sessionId}' (it may have been deleted or reaped after being idle).")
{
    public string SessionId { get; } = sessionId;
    public override string Kind => "session-not-found";
}

/// <summary>A session's kernel could not be started (maps to 500 with the kernel's own error text).</summary>
public sealed class KernelStartException(string message) : WardenException(message)
{
    public override string Kind => "kernel-start-failed";
}
