using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Warden.Core.Execution;
using Warden.Server.Auth;
using Warden.Server.Diagnostics;
using Warden.Server.Hosting;

namespace Warden.Server.NativeApi;

/// <summary>Key management under <c>/api/v1/admin</c> (admin scope). The same store the CLI's <c>warden keys</c> uses.</summary>
public static partial class AdminApi
{
    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1/admin").WithTags("admin").WithMetadata(RequiredScope.Admin);
        api.MapPost("/keys", CreateKeyAsync).WithName("create_api_key").WithSummary("Create an API key; the key is in the response, once")
            .Accepts<CreateKeyRequest>("application/json").ProducesProblem(400);
        api.MapGet("/keys", ListKeysAsync).WithName("list_api_keys").WithSummary("Every key (never the secrets)");
        api.MapDelete("/keys/{id}", RevokeKeyAsync).WithName("revoke_api_key").WithSummary("Revoke a key").ProducesProblem(404);
        return app;
    }

    private static async Task<Created<CreatedKeyDto>> CreateKeyAsync(HttpRequest request, ApiKeyStore store, ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        var body = await RequestBody.ReadJsonAsync<CreateKeyRequest>(request, NativeJson.Options, cancellationToken);
        CreatedApiKey created;
        try
        {
            created = await store.CreateAsync(body.Name ?? "", body.Scopes ?? [ApiKeyScopes.Execute], cancellationToken);
        }
        catch (ArgumentException e)
        {
            throw new InvalidRequestException(e.Message.Split(" (Parameter")[0], e.ParamName);
        }
        Log.KeyCreated(loggers.CreateLogger(nameof(AdminApi)), created.Record.Id, created.Record.Name, string.Join(',', created.Record.Scopes));
        return TypedResults.Created($"/api/v1/admin/keys/{created.Record.Id}", new CreatedKeyDto(created.Record.Id, created.Record.Name, created.Record.Scopes,
            created.Record.CreatedAt, created.Key));
    }

    private static async Task<Ok<List<ApiKeyDto>>> ListKeysAsync(ApiKeyStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok((await store.ListAsync(cancellationToken)).Select(ApiKeyDto.From).ToList());

    private static async Task<Results<NoContent, ProblemHttpResult>> RevokeKeyAsync(string id, HttpContext context, ApiKeyStore store,
        ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        if (!await store.RevokeAsync(id, cancellationToken))
        {
            return TypedResults.Problem(new ProblemDetails
            {
                Status = 404, Type = WardenExceptionHandler.TypeBase + "key-not-found", Title = "Key not found",
                Detail = $"No active API key with id '{id}'.", Instance = context.Request.Path,
            });
        }
        Log.KeyRevoked(loggers.CreateLogger(nameof(AdminApi)), id);
        return TypedResults.NoContent();
    }

    private static partial class Log
    {
        [LoggerMessage(EventIds.KeyCreated, LogLevel.Information, "API key {KeyId} ({Name}) created with scopes {Scopes}")]
        public static partial void KeyCreated(ILogger logger, string keyId, string name, string scopes);

        [LoggerMessage(EventIds.KeyRevoked, LogLevel.Information, "API key {KeyId} revoked")]
        public static partial void KeyRevoked(ILogger logger, string keyId);
    }
}

public sealed record CreateKeyRequest(string? Name, List<string>? Scopes);

public sealed record ApiKeyDto(string Id, string Name, IReadOnlyList<string> Scopes, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt, bool Active)
{
    public static ApiKeyDto From(ApiKeyRecord r) => new(r.Id, r.Name, r.Scopes, r.CreatedAt, r.RevokedAt, r.Active);
}

/// <summary>The created key's record and the key itself (shown this once; only its hash is stored).</summary>
public sealed record CreatedKeyDto(string Id, string Name, IReadOnlyList<string> Scopes, DateTimeOffset CreatedAt, string Key);
