using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Execution;
using Warden.Server.Auth;

namespace Warden.Server.TerminalPolicies;

/// <summary>
/// Open WebUI's Terminals orchestrator policy API at <c>{BasePath}/api/v1/policies</c>, with its shapes and status codes
/// (list, create 201 / 409, get, upsert with the bare data, delete <c>{"ok": true}</c>; 404 <c>{"detail": …}</c>). Admin
/// keys only: the orchestrator's admin API key is Warden's admin scope.
/// </summary>
public static class TerminalPoliciesApi
{
    public static IServiceCollection AddTerminalPolicies(this IServiceCollection services)
    {
        services.AddSingleton<PolicyStore>();
        services.AddSingleton<PolicyCatalog>();
        return services;
    }

    public static void MapTerminalPoliciesApi(this IEndpointRouteBuilder app, string basePath)
    {
        var api = app.MapGroup(basePath + "/api/v1/policies").WithTags("policies").WithMetadata(RequiredScope.Admin).ExcludeFromDescription();
        api.MapGet("", ListAsync);
        api.MapPost("", CreateAsync);
        api.MapGet("/{id}", GetAsync);
        api.MapPut("/{id}", PutAsync);
        api.MapDelete("/{id}", DeleteAsync);
    }

    private static async Task<JsonHttpResult<List<PolicyResponse>>> ListAsync(PolicyCatalog policies, CancellationToken cancellationToken) =>
        TypedResults.Json((await policies.Store.ListAsync(cancellationToken)).Select(Response).ToList(), PolicyJson.Default.ListPolicyResponse);

    private static async Task<IResult> CreateAsync(HttpRequest http, PolicyCatalog policies, CancellationToken cancellationToken)
    {
        var body = await ReadAsync(http, PolicyJson.Default.PolicyCreateRequest, cancellationToken);
        var id = CheckId(body.Id);
        var data = policies.Validate(body.Data ?? []);
        var row = await policies.Store.InsertAsync(id, data.ToJsonString(), cancellationToken);
        if (row is null) return Error(409, $"Policy '{id}' already exists");
        policies.Forget(id);
        return TypedResults.Json(Response(row), PolicyJson.Default.PolicyResponse, statusCode: 201);
    }

    private static async Task<IResult> GetAsync(string id, PolicyCatalog policies, CancellationToken cancellationToken) =>
        await policies.Store.GetAsync(CheckId(id), cancellationToken) is { } row ? TypedResults.Json(Response(row), PolicyJson.Default.PolicyResponse) : NotFound(id);

    private static async Task<JsonHttpResult<PolicyResponse>> PutAsync(string id, HttpRequest http, PolicyCatalog policies, CancellationToken cancellationToken)
    {
        CheckId(id);
        var data = policies.Validate(await ReadAsync(http, PolicyJson.Default.JsonObject, cancellationToken));
        var row = await policies.Store.UpsertAsync(id, data.ToJsonString(), cancellationToken);
        policies.Forget(id);
        return TypedResults.Json(Response(row), PolicyJson.Default.PolicyResponse);
    }

    private static async Task<IResult> DeleteAsync(string id, PolicyCatalog policies, CancellationToken cancellationToken)
    {
        if (!await policies.Store.DeleteAsync(CheckId(id), cancellationToken)) return NotFound(id);
        policies.Forget(id);
        return TypedResults.Json(new PolicyDeleted(true), PolicyJson.Default.PolicyDeleted);
    }

    internal static JsonHttpResult<PolicyError> NotFound(string id) => Error(404, $"Policy '{id}' not found");

    private static JsonHttpResult<PolicyError> Error(int status, string detail) => TypedResults.Json(new PolicyError(detail), PolicyJson.Default.PolicyError, statusCode: status);

    private static string CheckId(string? id) => PolicyData.IsValidId(id) ? id!
        : throw new InvalidRequestException("A policy id is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (no path characters).", "id");

    private static PolicyResponse Response(PolicyRow row) => new(row.Id, JsonNode.Parse(row.Data) as JsonObject ?? [],
        PolicyRow.PythonTime(row.CreatedAt), PolicyRow.PythonTime(row.UpdatedAt));

    private static async Task<T> ReadAsync<T>(HttpRequest http, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        try
        {
            return await JsonSerializer.DeserializeAsync(http.Body, type, cancellationToken) ?? throw new InvalidRequestException("The body must be a JSON object.", null);
        }
        catch (JsonException e)
        {
            throw new InvalidRequestException("The body must be a JSON object: " + e.Message, null);
        }
    }
}
