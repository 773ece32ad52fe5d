using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Warden.Core.Execution;

namespace Warden.Server.Hosting;

/// <summary>Reads a JSON body with clear errors: 415 for another content type, 400 naming the JSON problem.</summary>
public static class RequestBody
{
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
