using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace Warden.Server.Hosting;

/// <summary>
/// Writes a problem as <c>application/problem+json</c> whatever the request's Accept header says. ASP.NET Core's own
/// writer declines when Accept admits no JSON (<c>Accept: text/html</c>), and then every refusal — a 401, the exception
/// handler's 400s — became a bare 500. Registered after the default writer, so it only writes what that one declines.
/// </summary>
internal sealed class ProblemJsonWriter(IOptions<ProblemDetailsOptions> problemOptions, IOptions<JsonOptions> jsonOptions) : IProblemDetailsWriter
{
    public bool CanWrite(ProblemDetailsContext context) => true;

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var http = context.HttpContext;
        var problem = context.ProblemDetails;
        problem.Status ??= http.Response.StatusCode;
        problem.Title ??= ReasonPhrases.GetReasonPhrase(problem.Status.Value);
        problem.Type ??= "about:blank";
        problem.Extensions.TryAdd("traceId", Activity.Current?.Id ?? http.TraceIdentifier);
        problemOptions.Value.CustomizeProblemDetails?.Invoke(context);
        return new ValueTask(http.Response.WriteAsJsonAsync(problem, jsonOptions.Value.SerializerOptions.GetTypeInfo(problem.GetType()), "application/problem+json",
            http.RequestAborted));
    }
}
