using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.Unicode;
using Microsoft.AspNetCore.Http;
using Warden.Core.Execution;

namespace Warden.Server.Hosting;

/// <summary>
/// Reads a JSON body with clear errors: 415 for another content type, 400 naming the problem — empty, not UTF-8,
/// malformed, nested too deep, or a field of the wrong shape (<see cref="JsonShape"/>). Messages never name .NET types.
/// </summary>
public static class RequestBody
{
    /// <summary>Deeper nesting than any request type has is refused while parsing, before it costs anything.</summary>
    public const int MaxDepth = 32;

    public static Task<T> ReadJsonAsync<T>(HttpRequest request, JsonSerializerOptions options, CancellationToken cancellationToken)
        where T : class => ReadJsonAsync<T>(request, options, UnknownFields.Reject, cancellationToken);

    public static async Task<T> ReadJsonAsync<T>(HttpRequest request, JsonSerializerOptions options, UnknownFields unknown,
        CancellationToken cancellationToken)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!request.HasJsonContentType())
            throw new UnsupportedMediaTypeException($"Content-Type must be application/json (got '{request.ContentType ?? "none"}').");
        // Kestrel's MaxRequestBodySize bounds this buffer (413 beyond it).
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, cancellationToken);
        return Parse<T>(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), options, unknown);
    }

    /// <summary>
    /// Reads a form (urlencoded or multipart). A body that is not the form it claims to be — no boundary, cut short,
    /// over the parser's limits — is the client's mistake (400), not an error of ours; a body over Kestrel's size limit
    /// stays a 413 and a client that went away is not answered.
    /// </summary>
    public static async Task<IFormCollection> ReadFormAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            return await request.ReadFormAsync(cancellationToken);
        }
        catch (Exception e) when (e is InvalidDataException || (e is IOException and not BadHttpRequestException && !cancellationToken.IsCancellationRequested))
        {
            throw new InvalidRequestException($"The body is not a valid {request.ContentType?.Split(';')[0].Trim()} form: {e.Message}");
        }
    }

    /// <summary>Parses and checks one JSON document (a body, or a WebSocket message) into <typeparamref name="T"/>.</summary>
    public static T Parse<T>(ReadOnlyMemory<byte> utf8, JsonSerializerOptions options, UnknownFields unknown,
        IReadOnlyDictionary<string, Type>? extraFields = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(options);
        if (utf8.IsEmpty) throw new InvalidRequestException("The request body is empty.");
        if (!Utf8.IsValid(utf8.Span)) throw new InvalidRequestException("The request body is not valid UTF-8.");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8, new JsonDocumentOptions { MaxDepth = MaxDepth });
        }
        catch (JsonException e)
        {
            // The parser's own messages name positions and tokens, never types.
            throw new InvalidRequestException($"Malformed JSON: {e.Message}");
        }
        using (document)
        {
            var type = options.GetTypeInfo(typeof(T));
            JsonShape.Check(document.RootElement, type, unknown, extraFields);
            try
            {
                return document.RootElement.Deserialize((JsonTypeInfo<T>)type) ?? throw new InvalidRequestException("The request body is empty (JSON null).");
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException)
            {
                // JsonShape let through something the serializer refused: name the place, not the serializer's words.
                var at = e is JsonException { Path: { Length: > 1 } path } ? " at " + path.TrimStart('$', '.') : "";
                throw new InvalidRequestException($"The request body has a value of the wrong shape{at}.");
            }
        }
    }
}

/// <summary>The body is not JSON (maps to 415).</summary>
public sealed class UnsupportedMediaTypeException(string message) : WardenException(message)
{
    public override string Kind => "unsupported-media-type";
}
