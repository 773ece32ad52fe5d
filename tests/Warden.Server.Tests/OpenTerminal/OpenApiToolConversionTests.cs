using System.Text.Json;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>
/// Applies Open WebUI's OpenAPI → tool conversion rules (utils/tools.py, convert_openapi_to_tool_payload) to the
/// surface's document: every operation has an operationId (the tool name), parameters are path/query only, bodies are
/// application/json, every $ref resolves, and the LLM-facing operationIds are exactly open-terminal's.
/// </summary>
public sealed class OpenApiToolConversionTests(SharedTerminalServer fixture) : IClassFixture<SharedTerminalServer>
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

    private static readonly string[] Expected =
    [
        "run_command", "get_process_status", "send_process_input", "kill_process", "list_processes", "list_files", "read_file",
        "display_file", "write_file", "replace_file_content", "grep_search", "glob_search",
    ];

    [Fact]
    public async Task Document_ConvertsCleanlyUnderOpenWebUiRules()
    {
        using var anonymous = fixture.Server.For("", chatId: null, bearer: null);
        var (status, doc) = await anonymous.GetAsync("openapi.json");
        Assert.Equal(200, status);
        Assert.True(doc.TryGetProperty("paths", out var paths), "a spec without paths is dropped");
        var tools = new List<string>();
        foreach (var path in paths.EnumerateObject())
        {
            Assert.DoesNotContain("/terminal", path.Name, StringComparison.Ordinal);
            foreach (var op in path.Value.EnumerateObject().Where(o => Methods.Contains(o.Name)))
            {
                Assert.True(op.Value.TryGetProperty("operationId", out var id), $"{op.Name} {path.Name} has no operationId");
                tools.Add(id.GetString()!);
                Assert.True(op.Value.TryGetProperty("description", out _) || op.Value.TryGetProperty("summary", out _));
                foreach (var p in op.Value.TryGetProperty("parameters", out var ps) ? ps.EnumerateArray() : Enumerable.Empty<JsonElement>())
                {
                    var where = p.GetProperty("in").GetString();
                    Assert.True(where is "path" or "query", $"{id}: parameter {p.GetProperty("name")} is in {where}; Open WebUI drops header/cookie parameters");
                    var schema = Resolve(doc, p.GetProperty("schema"));
                    if (schema.TryGetProperty("type", out var type) && type.GetString() == "array") Assert.True(schema.TryGetProperty("items", out _));
                }
                if (op.Value.TryGetProperty("requestBody", out var body))
                {
                    var content = body.GetProperty("content");
                    Assert.True(content.TryGetProperty("application/json", out var json), $"{id}: Open WebUI only reads application/json bodies");
                    var schema = Resolve(doc, json.GetProperty("schema"));
                    Assert.Equal("object", schema.GetProperty("type").GetString());
                    foreach (var property in schema.GetProperty("properties").EnumerateObject()) ResolveDeep(doc, property.Value, 0);
                }
            }
        }
        Assert.Equal(Expected.Order(), tools.Order());
        Assert.Equal(tools.Count, tools.Distinct().Count());
    }

    private static JsonElement Resolve(JsonElement doc, JsonElement schema)
    {
        if (!schema.TryGetProperty("$ref", out var reference)) return schema;
        var parts = reference.GetString()!.TrimStart('#', '/').Split('/');
        var node = doc;
        foreach (var part in parts) Assert.True(node.TryGetProperty(part, out node), $"unresolvable $ref {reference}");
        return node;
    }

    private static void ResolveDeep(JsonElement doc, JsonElement schema, int depth)
    {
        if (depth > 8) return;
        schema = Resolve(doc, schema);
        if (schema.TryGetProperty("items", out var items)) ResolveDeep(doc, items, depth + 1);
        if (schema.TryGetProperty("properties", out var props)) foreach (var p in props.EnumerateObject()) ResolveDeep(doc, p.Value, depth + 1);
        foreach (var key in new[] { "anyOf", "oneOf", "allOf" })
            if (schema.TryGetProperty(key, out var members)) foreach (var m in members.EnumerateArray()) ResolveDeep(doc, m, depth + 1);
    }
}
