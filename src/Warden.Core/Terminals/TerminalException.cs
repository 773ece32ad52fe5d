using Warden.Core.Execution;

namespace Warden.Core.Terminals;

/// <summary>Why a terminal operation was refused; each maps to one HTTP status in the server's exception handler.</summary>
public enum TerminalFailure
{
    BadRequest,
    NotFound,
    /// <summary>The path is outside the user's home, or a symlink leads out of it.</summary>
    Forbidden,
    Conflict,
    UnsupportedMedia,
    TooLarge,
    /// <summary>A per-user quota (files or megabytes) would be exceeded.</summary>
    QuotaExceeded,
    ProcessNotFound,
    /// <summary>The user already has the most commands running that they may.</summary>
    TooManyCommands,
    /// <summary>The user's sandbox died or could not be started.</summary>
    SandboxUnavailable,
    /// <summary>The user already has the most interactive terminals open that they may.</summary>
    TooManyTerminals,
}

/// <summary>A terminal operation the user's sandbox refused or could not do; nothing else is affected.</summary>
public sealed class TerminalException(TerminalFailure failure, string message) : WardenException(message)
{
    public TerminalFailure Failure { get; } = failure;

    public override string Kind => Failure switch
    {
        TerminalFailure.BadRequest => "invalid-request",
        TerminalFailure.NotFound => "file-not-found",
        TerminalFailure.Forbidden => "path-forbidden",
        TerminalFailure.Conflict => "conflict",
        TerminalFailure.UnsupportedMedia => "unsupported-media-type",
        TerminalFailure.TooLarge => "payload-too-large",
        TerminalFailure.QuotaExceeded => "quota-exceeded",
        TerminalFailure.ProcessNotFound => "process-not-found",
        TerminalFailure.TooManyCommands => "too-many-commands",
        TerminalFailure.TooManyTerminals => "too-many-terminals",
        _ => "sandbox-unavailable",
    };

    /// <summary>The agent's error codes (see warden_terminal.py) as failures.</summary>
    internal static TerminalException FromAgent(string code, string message) => new(code switch
    {
        "not_found" => TerminalFailure.NotFound,
        "forbidden" => TerminalFailure.Forbidden,
        "conflict" => TerminalFailure.Conflict,
        "unsupported_media" => TerminalFailure.UnsupportedMedia,
        "too_large" => TerminalFailure.TooLarge,
        "quota" => TerminalFailure.QuotaExceeded,
        "process_not_found" => TerminalFailure.ProcessNotFound,
        "too_many" => TerminalFailure.TooManyCommands,
        "too_many_terminals" => TerminalFailure.TooManyTerminals,
        "unavailable" => TerminalFailure.SandboxUnavailable,
        _ => TerminalFailure.BadRequest,
    }, message);
}
