using System.Text.Json.Nodes;

namespace Warden.Server.Tests.Fuzz;

/// <summary>Which surface an operation belongs to: decides the credentials and headers a valid request carries.</summary>
internal enum Surface
{
    /// <summary>Liveness, readiness, metrics: no body, mostly anonymous.</summary>
    Service,
    Native,
    Jupyter,
    Terminal,
}

internal enum BodyKind
{
    None,
    Json,
    /// <summary>JSON, but the route also takes no body at all (Jupyter's kernel start: Open WebUI posts none).</summary>
    OptionalJson,
    Form,
    Multipart,
}

internal sealed record FuzzParameter(string Name, string In, JsonObject Schema, bool Required);

/// <summary>One route and method with the shape of a valid request, from an OpenAPI document or written by hand.</summary>
internal sealed record FuzzOperation(string Id, string Method, string Path, Surface Surface, IReadOnlyList<FuzzParameter> Parameters, BodyKind Body,
    JsonObject? BodySchema)
{
    public override string ToString() => $"{Id} ({Method} {Path})";
}

/// <summary>
/// The operations to fuzz: every operation of Warden's two OpenAPI documents (<c>/openapi.json</c>, native and Jupyter
/// REST; <c>/terminal/openapi.json</c>, Open Terminal), plus the routes those documents leave out by design: the Open
/// Terminal routes Open WebUI's interface calls, Jupyter's login, and the WebSocket routes answered over plain HTTP.
/// </summary>
internal static class OperationCatalog
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch"];

    public static List<FuzzOperation> Load(JsonNode nativeDocument, JsonNode terminalDocument, string terminalBase)
    {
        var operations = new List<FuzzOperation>();
        operations.AddRange(FromDocument(nativeDocument, prefix: ""));
        operations.AddRange(FromDocument(terminalDocument, prefix: terminalBase));
        operations.AddRange(Extras(terminalBase));
        // Jupyter's kernel start takes an optional {"name": …} the document does not describe (jupyter_server's shape).
        var start = operations.FindIndex(o => o.Id == "jupyter_start_kernel");
        if (start >= 0) operations[start] = operations[start] with { Body = BodyKind.OptionalJson, BodySchema = Schema("""{"type":"object","properties":{"name":{"type":"string"}}}""") };
        return operations;
    }

    private static IEnumerable<FuzzOperation> FromDocument(JsonNode document, string prefix)
    {
        foreach (var (path, item) in document["paths"]!.AsObject())
        {
            foreach (var method in Methods)
            {
                if (item![method] is not JsonObject op) continue;
                var parameters = new List<FuzzParameter>();
                foreach (var p in op["parameters"]?.AsArray() ?? [])
                {
                    var where = (string)p!["in"]!;
                    parameters.Add(new FuzzParameter((string)p["name"]!, where, Inline(p["schema"] ?? new JsonObject(), document, 0).AsObject(),
                        where == "path" || (p["required"]?.GetValue<bool>() ?? false)));
                }
                var body = op["requestBody"]?["content"]?["application/json"]?["schema"];
                var full = prefix + path;
                yield return new FuzzOperation((string?)op["operationId"] ?? $"{method} {full}", method.ToUpperInvariant(), full, SurfaceOf(full, prefix),
                    parameters, body is null ? BodyKind.None : BodyKind.Json, body is null ? null : Inline(body, document, 0).AsObject());
            }
        }
    }

    private static Surface SurfaceOf(string path, string prefix) =>
        prefix.Length > 0 ? Surface.Terminal
        : path.StartsWith("/api/v1", StringComparison.Ordinal) ? Surface.Native
        : path.StartsWith("/api", StringComparison.Ordinal) ? Surface.Jupyter
        : Surface.Service;

    /// <summary>The schema with every <c>$ref</c> replaced by what it names (the documents have no recursive types).</summary>
    private static JsonNode Inline(JsonNode node, JsonNode document, int depth)
    {
        if (depth > 16) return new JsonObject();
        switch (node)
        {
            case JsonObject o when o["$ref"] is JsonValue reference:
                var target = document;
                foreach (var part in ((string)reference!).TrimStart('#', '/').Split('/')) target = target![part]!;
                return Inline(target!, document, depth + 1);
            case JsonObject o:
                var copy = new JsonObject();
                foreach (var (k, v) in o) copy[k] = v is null ? null : Inline(v, document, depth + 1);
                return copy;
            case JsonArray a:
                return new JsonArray(a.Select(v => v is null ? null : Inline(v, document, depth + 1)).ToArray());
            default:
                return node.DeepClone();
        }
    }

    private static JsonObject Schema(string json) => JsonNode.Parse(json)!.AsObject();

    private static FuzzParameter Query(string name, string type, bool required = false) => new(name, "query", Schema($$"""{"type":"{{type}}"}"""), required);

    private static FuzzParameter Route(string name) => new(name, "path", Schema("""{"type":"string"}"""), true);

    private static IEnumerable<FuzzOperation> Extras(string t)
    {
        var path = Schema("""{"type":"object","required":["path"],"properties":{"path":{"type":"string"}}}""");
        var move = Schema("""{"type":"object","required":["source","destination"],"properties":{"source":{"type":"string"},"destination":{"type":"string"}}}""");
        // Open Terminal routes of Open WebUI's interface (open-terminal leaves them out of its document too).
        yield return new("terminal_health", "GET", t + "/health", Surface.Terminal, [], BodyKind.None, null);
        yield return new("terminal_config", "GET", t + "/api/config", Surface.Terminal, [], BodyKind.None, null);
        yield return new("terminal_system", "GET", t + "/system", Surface.Terminal, [], BodyKind.None, null);
        yield return new("terminal_get_cwd", "GET", t + "/files/cwd", Surface.Terminal, [], BodyKind.None, null);
        yield return new("terminal_set_cwd", "POST", t + "/files/cwd", Surface.Terminal, [], BodyKind.Json, path);
        yield return new("terminal_view", "GET", t + "/files/view", Surface.Terminal, [Query("path", "string", required: true)], BodyKind.None, null);
        yield return new("terminal_upload", "POST", t + "/files/upload", Surface.Terminal, [Query("directory", "string", required: true)], BodyKind.Multipart, null);
        yield return new("terminal_mkdir", "POST", t + "/files/mkdir", Surface.Terminal, [], BodyKind.Json, path);
        yield return new("terminal_delete", "DELETE", t + "/files/delete", Surface.Terminal, [Query("path", "string", required: true)], BodyKind.None, null);
        yield return new("terminal_move", "POST", t + "/files/move", Surface.Terminal, [], BodyKind.Json, move);
        // Jupyter's password login (Open WebUI: GET /login for the _xsrf cookie, then a form POST).
        yield return new("jupyter_login_page", "GET", "/login", Surface.Jupyter, [Query("next", "string")], BodyKind.None, null);
        yield return new("jupyter_login", "POST", "/login", Surface.Jupyter, [Query("next", "string")], BodyKind.Form, null);
        // WebSocket routes asked over plain HTTP.
        yield return new("jupyter_channels_http", "GET", "/api/kernels/{id}/channels", Surface.Jupyter, [Route("id")], BodyKind.None, null);
        yield return new("execute_websocket_http", "GET", "/api/v1/execute/ws", Surface.Native, [], BodyKind.None, null);
    }
}
