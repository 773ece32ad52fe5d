using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;
using Warden.Core.Execution;
using Warden.Core.Terminals;

namespace Warden.Server.Hosting;

/// <summary>The one place where Core's refusals become HTTP problems (RFC 7807). Anything else is a 500 we log.</summary>
internal sealed partial class WardenExceptionHandler(IProblemDetailsService problems, ILogger<WardenExceptionHandler> logger) : IExceptionHandler
{
    public const string TypeBase = "https://warden.dev/problems/";

    private const string DatabaseUnavailable = "database-unavailable";
    private static readonly TimeSpan DatabaseRetryAfter = TimeSpan.FromSeconds(2);

    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is OperationCanceledException && context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; the sandbox was killed by the same token. Nobody is listening for an answer.
            context.Response.StatusCode = 499;
            return true;
        }
        var (status, kind, title) = Classify(exception);
        if (status == 500) Log.Unhandled(logger, context.Request.Path, exception);
        if (kind == DatabaseUnavailable) Log.DatabaseFailed(logger, context.Request.Path, exception);
        var retryAfter = exception switch
        {
            CapacityExceededException capacity => capacity.RetryAfter,
            RateLimiting.RateLimitedException limited => limited.RetryAfter,
            Cluster.ClusterDatabaseUnavailableException => Cluster.ClusterDatabaseUnavailableException.RetryAfter,
            _ when kind == DatabaseUnavailable => DatabaseRetryAfter,
            _ => (TimeSpan?)null,
        };
        if (retryAfter is { } wait)
            context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.StatusCode = status;
        // The binder's messages name C# types ("double? wait"): say which parameter is wrong in words instead.
        var (bindingDetail, bindingParameter) = exception is BadHttpRequestException bad ? BindingFailure.Describe(context, bad) : (null, null);
        var details = new ProblemDetails
        {
            Status = status,
            Type = TypeBase + kind,
            Title = title,
            // The database's own message may name hosts, sockets or users: it goes to the log only.
            Detail = kind == DatabaseUnavailable ? "The database did not answer; retry shortly."
                : status == 500 && exception is not WardenException ? "An unexpected error occurred; it has been logged."
                : bindingDetail ?? exception.Message,
            Instance = context.Request.Path,
        };
        if (bindingParameter is not null) details.Extensions["parameter"] = bindingParameter;
        if (exception is UnknownLanguageException unknown) details.Extensions["language"] = unknown.Language;
        if (exception is LimitAboveCeilingException ceiling) details.Extensions["limit"] = ceiling.Limit;
        if (exception is InvalidRequestException { Parameter: { } p }) details.Extensions["parameter"] = p;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = details, Exception = exception });
    }

    private static int StatusOf(TerminalFailure failure) => failure switch
    {
        TerminalFailure.NotFound or TerminalFailure.ProcessNotFound => 404,
        TerminalFailure.Forbidden => 403,
        TerminalFailure.Conflict => 409,
        TerminalFailure.UnsupportedMedia => 415,
        TerminalFailure.TooLarge => 413,
        TerminalFailure.QuotaExceeded => 507,
        TerminalFailure.TooManyCommands or TerminalFailure.TooManyTerminals => 429,
        TerminalFailure.SandboxUnavailable => 503,
        _ => 400,
    };

    private static string TitleOf(TerminalFailure failure) => failure switch
    {
        TerminalFailure.NotFound => "Not found",
        TerminalFailure.ProcessNotFound => "Process not found",
        TerminalFailure.Forbidden => "Path outside the home directory",
        TerminalFailure.QuotaExceeded => "Quota exceeded",
        TerminalFailure.TooManyCommands => "Too many commands",
        TerminalFailure.TooManyTerminals => "Too many terminals",
        TerminalFailure.SandboxUnavailable => "Sandbox unavailable",
        _ => "Invalid request",
    };

    /// <summary>The HTTP status, problem kind and title an exception maps to (also what the audit log records).</summary>
    public static (int Status, string Kind, string Title) Classify(Exception exception) => exception switch
    {
        OpenTerminalApi.TerminalIdentityException e => (e.Status, e.Kind, e.Status == 403 ? "Forbidden" : e.Status == 502 ? "Bad gateway" : e.Status == 400 ? "Bad request" : "Unauthorized"),
        TerminalException e => (StatusOf(e.Failure), e.Kind, TitleOf(e.Failure)),
        UnsupportedMediaTypeException e => (415, e.Kind, "Unsupported media type"),
        PayloadTooLargeException e => (413, e.Kind, "Payload too large"),
        CapacityExceededException e => (503, e.Kind, "Capacity exceeded"),
        RateLimiting.RateLimitedException e => (429, e.Kind, "Too many requests"),
        Cluster.ClusterDatabaseUnavailableException e => (503, e.Kind, "Cluster database unavailable"),
        SessionNotFoundException e => (404, e.Kind, "Session not found"),
        // A kernel that cannot start within the server's own defaults: the sandbox, not the request (too-small limits are a 400).
        KernelStartException e => (503, e.Kind, "Kernel start failed"),
        UnknownLanguageException e => (400, e.Kind, "Unknown language"),
        LimitAboveCeilingException e => (400, e.Kind, "Limit above ceiling"),
        WardenException e => (400, e.Kind, "Invalid request"),
        BadHttpRequestException e => (e.StatusCode, e.StatusCode == 413 ? "payload-too-large" : "bad-request", e.StatusCode == 413 ? "Payload too large" : "Bad request"),
        // The database unreachable, restarting or out of connections: a condition to retry, not a bug (any other
        // database error still is one).
        System.Data.Common.DbException { IsTransient: true } => (503, DatabaseUnavailable, "Database unavailable"),
        _ => (500, "internal", "Internal error"),
    };

    private static partial class Log
    {
        [LoggerMessage(Diagnostics.EventIds.Unhandled, LogLevel.Error, "Unhandled error on {Path}")]
        public static partial void Unhandled(ILogger logger, string path, Exception exception);

        [LoggerMessage(Diagnostics.EventIds.DatabaseUnavailable, LogLevel.Warning, "The database failed {Path} (answered 503)")]
        public static partial void DatabaseFailed(ILogger logger, string path, Exception exception);
    }
}
