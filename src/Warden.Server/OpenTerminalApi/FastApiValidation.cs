using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Warden.Core.Execution;
using Warden.Server.Hosting;

namespace Warden.Server.OpenTerminalApi;

/// <summary>
/// Request validation failures on the Open Terminal surface are answered as open-terminal (FastAPI) does: 422 with
/// <c>{"detail": [{"type", "loc", "msg", "input"}]}</c>, which Open WebUI's terminal client reads. The body is still an
/// RFC 7807 problem (type, title, status, instance), whose <c>detail</c> member is FastAPI's list instead of a string.
/// Refusals that are not about the request's shape (a missing file, a path outside the home) keep their own status.
/// </summary>
internal static class FastApiValidation
{
    public static async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (Exception e) when (IsValidation(e) && !context.Response.HasStarted)
        {
            await WriteAsync(context, e).ConfigureAwait(false);
            return;
        }
        // The request delegate generator answers a query or route value that does not parse with a bare 400 and no
        // exception (BindingFailure.DescribeUnparsed): the same 422 as a thrown binding failure.
        if (context.Response.StatusCode == StatusCodes.Status400BadRequest && !context.Response.HasStarted
            && BindingFailure.DescribeUnparsed(context) is { } unparsed)
            await WriteAsync(context, unparsed.Detail, unparsed.Parameter, bound: true).ConfigureAwait(false);
    }

    private static bool IsValidation(Exception e) =>
        e is InvalidRequestException || e is BadHttpRequestException { StatusCode: 400 };

    private static async Task WriteAsync(HttpContext context, Exception exception)
    {
        string message;
        string? parameter;
        if (exception is BadHttpRequestException bad)
        {
            // BindingFailure reads the failed endpoint from the exception handler's feature, as the global handler does.
            context.Features.Set<IExceptionHandlerFeature>(new ExceptionHandlerFeature
            {
                Error = exception, Endpoint = context.GetEndpoint(), RouteValues = context.Request.RouteValues, Path = context.Request.Path,
            });
            (message, parameter) = BindingFailure.Describe(context, bad);
        }
        else
        {
            message = exception.Message;
            parameter = ((InvalidRequestException)exception).Parameter;
        }
        await WriteAsync(context, message, parameter, bound: exception is BadHttpRequestException).ConfigureAwait(false);
    }

    private static async Task WriteAsync(HttpContext context, string message, string? parameter, bool bound)
    {
        var location = Location(context.Request, parameter, bound);
        context.Response.Clear();
        context.Response.StatusCode = StatusCodes.Status422UnprocessableEntity;
        context.Response.ContentType = "application/problem+json";
        await using var json = new Utf8JsonWriter(context.Response.Body);
        json.WriteStartObject();
        json.WriteString("type", WardenExceptionHandler.TypeBase + "invalid-request");
        json.WriteString("title", "Unprocessable entity");
        json.WriteNumber("status", 422);
        json.WriteStartArray("detail");
        json.WriteStartObject();
        json.WriteString("type", "value_error");
        json.WriteStartArray("loc");
        json.WriteStringValue(location);
        if (parameter is not null)
        {
            // "replacements[0].replacement" is FastAPI's ["body", "replacements", 0, "replacement"].
            foreach (var part in parameter.Split('.', '['))
            {
                if (part.EndsWith(']') && int.TryParse(part.AsSpan(0, part.Length - 1), System.Globalization.NumberStyles.None,
                        System.Globalization.CultureInfo.InvariantCulture, out var index)) json.WriteNumberValue(index);
                else json.WriteStringValue(part);
            }
        }
        json.WriteEndArray();
        json.WriteString("msg", message);
        json.WriteNull("input");
        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteString("instance", context.Request.Path);
        if (parameter is not null) json.WriteString("parameter", parameter);
        json.WriteEndObject();
        await json.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>Where FastAPI would say the value was: a route value, the query, or the body. A value the endpoint's
    /// binding failed on is never the body (bodies are read by the handlers), so an absent one was a query parameter;
    /// so is an absent one the handler asked for in a request without a body.</summary>
    private static string Location(HttpRequest request, string? parameter, bool bound)
    {
        if (parameter is null) return "body";
        var root = parameter.Split('.', '[')[0];
        if (request.RouteValues.ContainsKey(root)) return "path";
        if (request.Query.ContainsKey(root) || bound) return "query";
        bool hasBody = request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0;
        return hasBody ? "body" : "query";
    }
}
