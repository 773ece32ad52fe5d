using Microsoft.AspNetCore.Http;

namespace Warden.Server.Hosting;

/// <summary>Clear details for problems produced by routing and binding themselves (no handler ran): 400, 404, 405, 415.</summary>
internal static class StatusProblems
{
    public static void Describe(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        var request = context.HttpContext.Request;
        problem.Instance ??= request.Path;
        // A bare 400 from the binder (no exception: see BindingFailure.DescribeUnparsed) says which parameter, like a thrown one.
        if (problem.Status == 400 && context.Exception is null && problem.Detail is null
            && BindingFailure.DescribeUnparsed(context.HttpContext) is { } unparsed)
        {
            problem.Type = WardenExceptionHandler.TypeBase + "bad-request";
            problem.Title = "Bad request";
            problem.Detail = unparsed.Detail;
            problem.Extensions["parameter"] = unparsed.Parameter;
            return;
        }
        problem.Detail ??= problem.Status switch
        {
            404 => $"No endpoint at {request.Path}. See /openapi.json for the API.",
            405 => $"{request.Method} is not allowed on {request.Path}.",
            415 => $"Content-Type must be application/json (got '{request.ContentType ?? "none"}').",
            _ => problem.Detail,
        };
    }
}
