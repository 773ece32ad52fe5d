using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace Warden.Server.Hosting;

/// <summary>
/// When <c>Warden:ApiKey</c> is set, every request except liveness/health and the OpenAPI document must carry
/// <c>Authorization: Bearer KEY</c>. The comparison is constant-time over SHA-256 digests. Endpoints marked
/// <see cref="OwnAuthentication"/> (the Jupyter API) check credentials themselves, in the forms their clients send.
/// </summary>
internal sealed class ApiKeyMiddleware(RequestDelegate next, string apiKey)
{
    private readonly byte[] _expected = SHA256.HashData(Encoding.UTF8.GetBytes(apiKey));

    public async Task InvokeAsync(HttpContext context, IProblemDetailsService problems)
    {
        var path = context.Request.Path;
        if (path.StartsWithSegments("/api/v1/health") || path.StartsWithSegments("/openapi.json") || Matches(context.Request.Headers.Authorization)
            || context.GetEndpoint()?.Metadata.GetMetadata<OwnAuthentication>() is not null)
        {
            await next(context);
            return;
        }
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = "Bearer";
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails
            {
                Status = 401, Type = WardenExceptionHandler.TypeBase + "unauthorized", Title = "Unauthorized",
                Detail = "A valid API key is required: Authorization: Bearer <WARDEN_API_KEY>.", Instance = path,
            },
        });
    }

    private bool Matches(string? header)
    {
        const string scheme = "Bearer ";
        if (header is null || !header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return false;
        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(presented, _expected);
    }
}
