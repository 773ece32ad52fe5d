using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Warden.Core.Execution;
using Warden.Server.Auth;
using Warden.Server.History;
using Warden.Server.Hosting;

namespace Warden.Server.NativeApi;

/// <summary>
/// Execution history under <c>/api/v1/executions</c>, newest first, keyset-paged (<c>cursor</c> = the last id of the
/// previous page). A key without the admin scope sees only its own executions.
/// </summary>
public static class ExecutionsApi
{
    public static IEndpointRouteBuilder MapExecutionsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/executions").WithTags("history");
        api.MapGet("", ListAsync).WithName("list_executions")
            .WithSummary("Execution history, newest first (filters: status, language, user, since; paging: limit, cursor)").ProducesProblem(400);
        api.MapGet("/{id}", GetAsync).WithName("get_execution").WithSummary("One recorded execution").ProducesProblem(404);
        return app;
    }

    private static async Task<Ok<ExecutionPageDto>> ListAsync(HttpContext context, HistoryStore history, string? status, string? language,
        string? user, string? since, int? limit, string? cursor, CancellationToken cancellationToken)
    {
        DateTimeOffset? from = null;
        if (!string.IsNullOrEmpty(since))
        {
            if (DateTimeOffset.TryParse(since, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed)) from = parsed;
            // Only seconds within DateTimeOffset's range convert (a crafted 99999999999999 was a 500).
            else if (long.TryParse(since, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var unix)
                && unix >= DateTimeOffset.MinValue.ToUnixTimeSeconds() && unix <= DateTimeOffset.MaxValue.ToUnixTimeSeconds())
                from = DateTimeOffset.FromUnixTimeSeconds(unix);
            else throw new InvalidRequestException("since: an ISO 8601 time or unix seconds.", "since");
        }
        if (limit is < 1 or > 500) throw new InvalidRequestException("limit: 1 to 500.", "limit");
        var caller = Caller.Of(context);
        // A record belongs to the key and user that ran it: the same principal rule as sessions and kernels.
        bool everything = caller.Requester().SeesEverything;
        var page = await history.QueryAsync(new HistoryQuery
        {
            Status = status, Language = language, UserId = user, Since = from, Before = cursor, Limit = limit ?? 50,
            KeyId = everything ? null : caller.KeyId, OwnerOnly = !everything, OwnerUserId = caller.UserId,
        }, cancellationToken);
        return TypedResults.Ok(new ExecutionPageDto(page.Items, page.NextCursor));
    }

    private static async Task<Results<Ok<ExecutionRecord>, ProblemHttpResult>> GetAsync(string id, HttpContext context, HistoryStore history,
        CancellationToken cancellationToken)
    {
        var caller = Caller.Of(context);
        var record = await history.GetAsync(id, cancellationToken);
        if (record is null || !caller.Requester().SeesEverything && (record.KeyId != caller.KeyId || record.UserId != caller.UserId))
        {
            return TypedResults.Problem(new ProblemDetails
            {
                Status = 404, Type = WardenExceptionHandler.TypeBase + "execution-not-found", Title = "Execution not found",
                Detail = $"No recorded execution with id '{id}' (it may have been removed by retention).", Instance = context.Request.Path,
            });
        }
        return TypedResults.Ok(record);
    }
}

public sealed record ExecutionPageDto(IReadOnlyList<ExecutionRecord> Items, string? NextCursor);
