using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Warden.Core.Execution;

namespace Warden.Server.Hosting;

/// <summary>Reads a JSON or form body with clear errors: 415 for another content type, 400 naming the problem.</summary>
public static class RequestBody
{
    /// <summary>
    /// The request's form. A malformed one (multipart without a boundary or not matching it, more values than the form
    /// reader allows, a body that ends before its closing boundary) is caller input, so a 400 naming the problem. The
    /// reader says so with InvalidDataException, or IOException for the early end; Kestrel's own refusals (413…) keep their status.
    /// </summary>
    public static async Task<IFormCollection> ReadFormAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            return await request.ReadFormAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidDataException
            || e is IOException and not BadHttpRequestException && !request.HttpContext.RequestAborted.IsCancellationRequested)
        {
            throw new InvalidRequestException("Malformed form: " + e.Message.Split(", the content may")[0]);
        }
    }

    public static async Task<T> ReadJsonAsync<T>(HttpRequest request, JsonSerializerOptions options, CancellationToken cancellationToken)
        where T : class
    {
        if (!request.HasJsonContentType())
            throw new UnsupportedMediaTypeException($"Content-Type must be application/json (got '{request.ContentType ?? "none"}').");
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(request.Body, options, cancellationToken)
                ?? throw new InvalidRequestException("The request body is empty (JSON null).");
        }
        catch (JsonException e)
        {
            var where = e.Path is null ? "" : $" at {e.Path}";
            throw new InvalidRequestException($"Malformed JSON{where}: {e.Message.Split(" Path:")[0]}");
        }
    }
}

/// <summary>The body is not JSON (maps to 415).</summary>
public sealed class UnsupportedMediaTypeException(string message) : WardenException(message)
{
    public override string Kind => "unsupported-media-type";
}
