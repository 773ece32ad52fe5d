using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Warden.Server.Tests.Fuzz;

/// <summary>
/// Builds a valid request for an operation (from its schema, with values that get past validation so the request reaches
/// the handler's real work), then applies zero to three mutations: wrong types, missing and extra fields, hostile
/// numbers and strings, duplicate keys, malformed or oversized bodies, wrong methods and content types, bogus ids,
/// hostile headers, credentials and cookies. Deterministic for a given seed and server answers.
/// </summary>
internal sealed partial class RequestMutator(Random random, FuzzState state, long maxBodyBytes)
{
    private static readonly JsonSerializerOptions Writer = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public const string Boundary = "----wardenfuzz7f3a";

    public FuzzRequest Next(FuzzOperation operation)
    {
        var draft = Valid(operation);
        var count = random.Next(100) switch { < 15 => 0, < 60 => 1, < 85 => 2, _ => 3 };
        for (int i = 0; i < count; i++) Mutate(draft);
        return draft.Build();
    }

    // ---- valid requests -----------------------------------------------------------------------------------------

    private Draft Valid(FuzzOperation op)
    {
        var draft = new Draft(op);
        foreach (var p in op.Parameters)
        {
            if (p.In == "path") draft.PathValues[p.Name] = ValidId(op, p.Name);
            else if (p.In == "query" && (p.Required || random.Next(2) == 0) && ValidQuery(op, p) is { } value) draft.Query.Add(new(p.Name, value));
        }
        Authenticate(draft);
        switch (op.Body)
        {
            case BodyKind.Json:
                draft.Json = ValidValue(op, "", op.BodySchema!, 0);
                draft.ContentType = "application/json";
                break;
            case BodyKind.OptionalJson when random.Next(2) == 0:
                draft.Json = ValidValue(op, "", op.BodySchema!, 0);
                draft.ContentType = "application/json";
                break;
            case BodyKind.Form:
                draft.Raw = Encoding.UTF8.GetBytes($"_xsrf={Uri.EscapeDataString(state.Xsrf)}&password={Uri.EscapeDataString(state.Password)}");
                draft.ContentType = "application/x-www-form-urlencoded";
                draft.Cookies.Add("_xsrf=" + state.Xsrf);
                break;
            case BodyKind.Multipart:
                draft.Raw = Multipart("fuzz.txt", "hello\n");
                draft.ContentType = "multipart/form-data; boundary=" + Boundary;
                break;
        }
        return draft;
    }

    private void Authenticate(Draft draft)
    {
        switch (draft.Operation.Surface)
        {
            case Surface.Service:
                draft.Authorization = "Bearer " + state.BootstrapKey;
                break;
            case Surface.Native:
                var admin = draft.Operation.Path.Contains("/admin/", StringComparison.Ordinal);
                draft.Authorization = "Bearer " + (admin ? Pick(state.BootstrapKey, state.AdminKey) : Pick(state.BootstrapKey, state.ExecuteKey, state.AdminKey));
                break;
            case Surface.Jupyter:
                switch (random.Next(4))
                {
                    case 0: draft.Query.Add(new("token", Pick(state.BootstrapKey, state.ExecuteKey))); break;
                    case 1: draft.Authorization = "token " + Pick(state.BootstrapKey, state.ExecuteKey); break;
                    case 2: draft.Authorization = "Bearer " + Pick(state.BootstrapKey, state.ExecuteKey); break;
                    default:
                        draft.Cookies.Add("warden-jupyter-login=" + state.LoginCookie);
                        draft.Cookies.Add("_xsrf=" + state.Xsrf);
                        draft.Headers.Add(new("X-XSRFToken", Encoding.UTF8.GetBytes(state.Xsrf)));
                        break;
                }
                break;
            case Surface.Terminal:
                draft.Authorization = "Bearer " + state.BootstrapKey;
                draft.Headers.Add(new("X-User-Id", Encoding.UTF8.GetBytes(Pick("fuzz-user", "fuzz-user", "fuzz-user-2"))));
                draft.Headers.Add(new("X-Session-Id", Encoding.UTF8.GetBytes(Pick("chat-1", "chat-2"))));
                break;
        }
    }

    private string ValidId(FuzzOperation op, string name)
    {
        var pool = name == "process_id" ? state.Processes
            : op.Path.StartsWith("/api/v1/sessions", StringComparison.Ordinal) ? state.Sessions
            : op.Path.StartsWith("/api/kernels", StringComparison.Ordinal) ? state.Kernels
            : op.Path.StartsWith("/api/v1/executions", StringComparison.Ordinal) ? state.Executions
            : op.Path.StartsWith("/api/v1/admin/keys", StringComparison.Ordinal) ? state.Keys
            : [];
        return pool.Count > 0 && random.Next(4) > 0 ? pool[random.Next(pool.Count)] : Pick(HostileValues.Ids);
    }

    private string? ValidQuery(FuzzOperation op, FuzzParameter p) => p.Name switch
    {
        // Small waits: a valid request must not hold the run for long.
        "wait" => Pick("0", "0.5", "1"),
        "tail" => "5",
        "offset" => "0",
        "force" => Pick("true", "false"),
        "directory" => ".",
        "path" => Pick("fuzz.txt", "fuzz2.txt", "."),
        "start_line" => "1",
        "end_line" => "2",
        "query" => "fuzz",
        "regex" or "match_per_line" => "true",
        "case_insensitive" => "false",
        "include" => "*.txt",
        "pattern" => "*.txt",
        "exclude" => "*.bak",
        "max_results" => "10",
        "type" => Pick("file", "directory", "any"),
        "status" => "success",
        "language" => "python",
        "user" => "fuzz-user",
        "since" => "2020-01-01T00:00:00Z",
        "limit" => "10",
        "cursor" => state.Executions.Count > 0 ? state.Executions[random.Next(state.Executions.Count)] : null,
        "next" => "/api/kernels",
        _ => SchemaType(p.Schema) switch { "integer" => "1", "number" => "1.5", "boolean" => "true", _ => "fuzz" },
    };

    private JsonNode? ValidValue(FuzzOperation op, string name, JsonObject schema, int depth)
    {
        if (Hint(op, name) is { } hinted) return hinted;
        switch (SchemaType(schema))
        {
            case "object":
                var result = new JsonObject();
                var required = schema["required"]?.AsArray().Select(r => (string)r!).ToHashSet() ?? [];
                foreach (var (property, propertySchema) in schema["properties"]?.AsObject() ?? [])
                {
                    if (!required.Contains(property) && !Core(property) && random.Next(10) >= 3) continue;
                    result[property] = depth > 4 ? null : ValidValue(op, property, propertySchema!.AsObject(), depth + 1);
                }
                // The native execute request takes code or files, not both.
                if (result.ContainsKey("code") && result.ContainsKey("files")) result.Remove(random.Next(2) == 0 ? "code" : "files");
                return result;
            case "array":
                return new JsonArray(schema["items"] is JsonObject items ? ValidValue(op, name, items, depth + 1) : "fuzz");
            case "integer": return 1;
            case "number": return 1.5;
            case "boolean": return false;
            default: return "fuzz";
        }
    }

    private static bool Core(string property) => property is "language" or "code" or "command" or "path" or "content" or "input" or "name"
        or "replacements" or "target" or "replacement" or "source" or "destination" or "scopes";

    private JsonNode? Hint(FuzzOperation op, string name) => name switch
    {
        "language" => Pick("python", "python", "bash"),
        "code" => op.Id == "execute_in_session" ? Pick("x = 1", "print(1)", "1 + 1") : "print(1)",
        "files" => new JsonArray(new JsonObject { ["name"] = "main.py", ["content"] = "print(1)" }),
        "main_file" => "main.py",
        "stdin" => "x",
        "args" => new JsonArray("a"),
        "timeout" => Pick(2, 5),
        "cpu_time" => 5,
        "memory_mb" => 128,
        "max_processes" => 16,
        "max_output_bytes" => 4096,
        "network" => false,
        "collect_files" => random.Next(2) == 0,
        "user" => "fuzz-user",
        "name" => op.Id switch { "create_api_key" => "fuzz-key", "jupyter_start_kernel" => "python3", _ => "main.py" },
        "scopes" => new JsonArray("execute"),
        "command" => Pick("echo fuzz", "ls", "echo fuzz > fuzz.txt", "pwd"),
        "cwd" => ".",
        "env" => new JsonObject { ["FUZZ"] = "1" },
        "input" => "hi\n",
        "path" => Pick("fuzz.txt", "fuzz-dir", "."),
        "content" => "hello",
        "target" => "hello",
        "replacement" => "bye",
        "start_line" or "end_line" => 1,
        "allow_multiple" => false,
        "source" => "fuzz.txt",
        "destination" => "fuzz2.txt",
        _ => null,
    };

    private static string? SchemaType(JsonObject schema) => schema["type"] switch
    {
        JsonValue v => (string?)v,
        JsonArray a => a.Select(x => (string?)x).FirstOrDefault(x => x != "null"),
        _ => schema["properties"] is not null ? "object" : null,
    };

    private static byte[] Multipart(string fileName, string content, string field = "file") => Encoding.UTF8.GetBytes(
        $"--{Boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{fileName}\"\r\nContent-Type: text/plain\r\n\r\n{content}\r\n--{Boundary}--\r\n");

    // ---- helpers ------------------------------------------------------------------------------------------------

    private JsonNode WrongValue() => Pick<JsonNode>(1, -1, 1.5, true, false, "str", new JsonArray(), new JsonObject(), new JsonArray(1, "a"),
        new JsonObject { ["a"] = 1 }, 0, "");

    private static void Collect(JsonNode node, List<(JsonNode Parent, string? Key, int Index)> slots)
    {
        if (node is JsonObject o)
        {
            foreach (var (k, v) in o)
            {
                slots.Add((o, k, -1));
                if (v is not null) Collect(v, slots);
            }
        }
        else if (node is JsonArray a)
        {
            for (int i = 0; i < a.Count; i++)
            {
                slots.Add((a, null, i));
                if (a[i] is { } v) Collect(v, slots);
            }
        }
    }

    private static void CollectObjects(JsonNode node, List<JsonObject> objects)
    {
        foreach (var child in node switch { JsonObject o => o.Select(p => p.Value), JsonArray a => a.AsEnumerable(), _ => [] })
        {
            if (child is JsonObject co) objects.Add(co);
            if (child is not null) CollectObjects(child, objects);
        }
    }

    private static void Set(JsonNode parent, string? key, int index, JsonNode? value)
    {
        if (parent is JsonObject o) o[key!] = value;
        else ((JsonArray)parent)[index] = value;
    }

    private static string SlotName(string? key, int index) => key ?? $"[{index}]";

    private T Pick<T>(params T[] values) => values[random.Next(values.Length)];

    private T Pick<T>(List<T> values) => values[random.Next(values.Count)];

    internal static string Show(string value) => value.Length <= 60 ? value.Replace("\0", "\\0", StringComparison.Ordinal) : $"{value[..40]}…({value.Length} chars)";
}
