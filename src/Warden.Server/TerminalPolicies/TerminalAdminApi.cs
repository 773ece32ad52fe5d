using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using Warden.Core;
using Warden.Core.Execution;
using Warden.Core.Limits;
using Warden.Core.Terminals;
using Warden.Core.Workspaces;
using Warden.Server.Auth;

namespace Warden.Server.TerminalPolicies;

/// <summary>
/// The orchestrator's admin routes its admin page reads, at <c>{BasePath}/api/v1/status</c>, <c>/api/v1/terminals</c> and
/// <c>/api/v1/terminals/stop</c>, with its shapes. Admin keys only, as the orchestrator's <c>verify_admin_api_key</c>.
/// They describe and stop this replica's terminals (in cluster mode, ask each replica).
/// </summary>
public static class TerminalAdminApi
{
    /// <summary>The orchestrator's name for "no policy"; here the plain (unprefixed) surface.</summary>
    public const string DefaultPolicy = "default";

    public static void MapTerminalAdminApi(this IEndpointRouteBuilder app, string basePath)
    {
        var api = app.MapGroup(basePath + "/api/v1").WithTags("terminals-admin").WithMetadata(RequiredScope.Admin).ExcludeFromDescription();
        api.MapGet("/status", StatusAsync);
        api.MapGet("/terminals", List);
        api.MapPost("/terminals/stop", StopAsync);
    }

    private static async Task<JsonHttpResult<TerminalStatusResponse>> StatusAsync(TerminalManager terminals, PolicyCatalog policies, LimitPolicy limits,
        IOptions<WardenOptions> warden, CancellationToken cancellationToken)
    {
        var options = terminals.Options;
        var count = (await policies.Store.ListAsync(cancellationToken)).Count;
        return TypedResults.Json(new TerminalStatusResponse(true, warden.Value.Backend, null, options.IdleTimeoutSeconds / 60.0,
            limits.Options.Cpus.ToString(CultureInfo.InvariantCulture), Mi(options.MemoryMb), Mi(options.MaxMegabytesPerUser), [.. policies.Profiles],
            terminals.RunningCount, count, 0), TerminalAdminJson.Default.TerminalStatusResponse);
    }

    private static JsonHttpResult<List<TerminalRow>> List(TerminalManager terminals) =>
        TypedResults.Json(terminals.List().OrderBy(t => t.Owner.User, StringComparer.Ordinal).Select(Row).ToList(), TerminalAdminJson.Default.ListTerminalRow);

    private static async Task<IResult> StopAsync(HttpRequest http, TerminalManager terminals, CancellationToken cancellationToken)
    {
        TerminalStopRequest? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync(http.Body, TerminalAdminJson.Default.TerminalStopRequest, cancellationToken);
        }
        catch (JsonException e)
        {
            throw new InvalidRequestException("The body must be a JSON object: " + e.Message, null);
        }
        if (body?.UserId is not { Length: > 0 } user) throw new InvalidRequestException("user_id is required.", "user_id");
        // Contexts are not separate terminals here (a chat is a working directory in the user's one sandbox): only "default" names one.
        if (body.ContextId is { } context && context != DefaultPolicy) return NotFound();
        var policy = body.PolicyId is null or DefaultPolicy ? null : body.PolicyId;
        int stopped = await terminals.StopAsync(user, policy, cancellationToken);
        return stopped == 0 ? NotFound() : TypedResults.Json(new TerminalStopResponse(stopped, stopped, 0), TerminalAdminJson.Default.TerminalStopResponse);
    }

    private static JsonHttpResult<PolicyError> NotFound() => TypedResults.Json(new PolicyError("Terminal not found"), PolicyJson.Default.PolicyError, statusCode: 404);

    private static TerminalRow Row(TerminalSummary t)
    {
        var key = UserWorkspaces.KeyOf(t.Owner, t.PolicyId);
        return new TerminalRow(t.Owner.User, t.PolicyId ?? DefaultPolicy, DefaultPolicy, t.Running ? "running" : "stopped", key, "term-" + key[..12],
            t.LastActivity == default ? null : t.LastActivity.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'+00:00'", CultureInfo.InvariantCulture),
            t.IdleTimeout.TotalMinutes);
    }

    private static string Mi(int megabytes) => megabytes.ToString(CultureInfo.InvariantCulture) + "Mi";
}
