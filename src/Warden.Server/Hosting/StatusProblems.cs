using Microsoft.AspNetCore.Http;

namespace Warden.Server.Hosting;

/// <summary>Clear details for problems produced by routing itself (no handler ran): 404, 405, 415.</summary>
internal static class StatusProblems
{
    public static void Describe(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        var request = context.HttpContext.Request;
        problem.Instance ??= request.Path;
        problem.Detail ??= problem.Status switch
        {
            404 => $"No endpoint at {request.Path}. See /openapi.json for the API.",
            405 => $"{request.Method} is not allowed on {request.Path}.",
            415 => $"Content-Type must be application/json (got '{request.ContentType ?? "none"}').",
            _ => problem.Detail,
        };
    }
}
