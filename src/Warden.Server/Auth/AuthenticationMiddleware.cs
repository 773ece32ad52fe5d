using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Warden.Server.Hosting;

namespace Warden.Server.Auth;

/// <summary>
/// Authentication is on when the bootstrap key (<c>WARDEN_API_KEY</c>) is set or a key was ever created in the store
/// (revoking every key does not reopen the server).
/// Then every request except liveness, readiness, health and the OpenAPI document needs <c>Authorization: Bearer KEY</c>
/// with the scope the endpoint requires (<see cref="RequiredScope"/>, default execute): 401 without a valid key, 403
/// with too little scope. Endpoints marked <see cref="OwnAuthentication"/> (Jupyter) check credentials themselves.
/// The caller is attached to the request as a <see cref="Caller"/> feature.
/// </summary>
internal sealed class AuthenticationMiddleware(RequestDelegate next, ApiKeyStore store, AuthOptions options)
{
    private readonly byte[]? _bootstrap = string.IsNullOrEmpty(options.ApiKey) ? null : SHA256.HashData(Encoding.UTF8.GetBytes(options.ApiKey));

    public async Task InvokeAsync(HttpContext context, IProblemDetailsService problems)
    {
        var endpoint = context.GetEndpoint();
        var ct = context.RequestAborted;
        bool required = _bootstrap is not null || await store.KeysExistAsync(ct);
        if (!required)
        {
            context.Features.Set(Caller.Anonymous(context, ApiKeyScopes.All));
            await next(context);
            return;
        }
        var caller = await AuthenticateAsync(context, ct);
        if (caller is not null) context.Features.Set(caller);
        if (IsOpen(context, endpoint))
        {
            await next(context);
            return;
        }
        if (caller is null)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await WriteAsync(context, problems, 401, "unauthorized", "Unauthorized", "A valid API key is required: Authorization: Bearer <key>.");
            return;
        }
        var scope = endpoint?.Metadata.GetMetadata<RequiredScope>()?.Scope ?? ApiKeyScopes.Execute;
        if (!ApiKeyScopes.Grants(caller.Scopes, scope))
        {
            await WriteAsync(context, problems, 403, "forbidden", "Forbidden", $"This API key lacks the '{scope}' scope.");
            return;
        }
        await next(context);
    }

    /// <summary>The caller a Bearer header names, or null. Public for the Jupyter routes, which accept other forms too.</summary>
    public async ValueTask<Caller?> AuthenticateAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var header = context.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return null;
        return await AuthenticateTokenAsync(context, header[scheme.Length..].Trim(), store, _bootstrap, cancellationToken);
    }

    public static async ValueTask<Caller?> AuthenticateTokenAsync(HttpContext context, string token, ApiKeyStore store, byte[]? bootstrapHash,
        CancellationToken cancellationToken)
    {
        if (token.Length == 0) return null;
        var ip = Caller.ClientAddress(context);
        if (bootstrapHash is not null && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(token)), bootstrapHash))
            return new Caller(Caller.BootstrapKeyId, ApiKeyScopes.All, Caller.TrustedUser(context), ip);
        var key = await store.AuthenticateAsync(token, cancellationToken);
        return key is null ? null : new Caller(key.Id, key.Scopes.ToList(), Caller.TrustedUser(context), ip);
    }

    private bool IsOpen(HttpContext context, Microsoft.AspNetCore.Http.Endpoint? endpoint)
    {
        var path = context.Request.Path;
        if (path.StartsWithSegments("/api/v1/health") || path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz")
            || path.StartsWithSegments("/openapi.json")) return true;
        if (options.MetricsAnonymous && path.StartsWithSegments("/metrics")) return true;
        return endpoint?.Metadata.GetMetadata<OwnAuthentication>() is not null || endpoint?.Metadata.GetMetadata<IAllowAnonymous>() is not null;
    }

    private static Task WriteAsync(HttpContext context, IProblemDetailsService problems, int status, string kind, string title, string detail)
    {
        context.Response.StatusCode = status;
        return problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails
            {
                Status = status, Type = WardenExceptionHandler.TypeBase + kind, Title = title, Detail = detail, Instance = context.Request.Path,
            },
        }).AsTask();
    }
}
