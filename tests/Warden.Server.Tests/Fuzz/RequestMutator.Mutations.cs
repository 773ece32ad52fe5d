using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Warden.Server.Tests.Fuzz;

/// <summary>The mutations: each changes one thing about a valid request and says what in its description.</summary>
internal sealed partial class RequestMutator
{
    private void Mutate(Draft d)
    {
        var options = new List<(int Weight, Action<Draft> Apply)>();
        if (d.Json is JsonObject) options.Add((30, MutateJsonField));
        if (d.HasBody) options.Add((12, MutateBodyBytes));
        if (d.HasBody || d.Method is "POST") options.Add((5, MutateContentType));
        options.Add((5, MutateMethod));
        if (d.PathValues.Count > 0) options.Add((10, MutatePathValue));
        options.Add((4, MutatePathShape));
        options.Add((10, MutateQuery));
        options.Add((12, MutateHeaders));
        options.Add((8, MutateAuthorization));
        options.Add((d.Operation.Surface == Surface.Jupyter ? 10 : 4, MutateCookies));
        if (d.HasBody) options.Add((3, x => { x.Delivery = BodyDelivery.Truncated; x.Mutations.Add("body cut short (Content-Length lies)"); }));
        var roll = random.Next(options.Sum(o => o.Weight));
        foreach (var (weight, apply) in options)
        {
            if (roll < weight)
            {
                apply(d);
                return;
            }
            roll -= weight;
        }
    }

    private void MutateJsonField(Draft d)
    {
        var slots = new List<(JsonNode Parent, string? Key, int Index)>();
        Collect(d.Json!, slots);
        var objects = new List<JsonObject> { (JsonObject)d.Json! };
        CollectObjects(d.Json!, objects);
        switch (random.Next(10))
        {
            case 0 when slots.Count > 0:
                var (parent, key, index) = Pick(slots);
                var wrong = WrongValue();
                Set(parent, key, index, wrong.DeepClone());
                d.Mutations.Add($"{SlotName(key, index)}: wrong type {wrong.ToJsonString()}");
                break;
            case 1 when slots.Count > 0:
                (parent, key, index) = Pick(slots);
                Set(parent, key, index, null);
                d.Mutations.Add($"{SlotName(key, index)}: null");
                break;
            case 2 when slots.Count > 0:
                (parent, key, index) = Pick(slots);
                if (parent is JsonObject o && key is not null) o.Remove(key);
                else ((JsonArray)parent).RemoveAt(index);
                d.Mutations.Add($"{SlotName(key, index)}: removed");
                break;
            case 3:
                var target = Pick(objects);
                var name = Pick("bogus", "__proto__", "constructor", "Language", "language ", "", "ünï", new string('f', 300), "$type", "user.id", "interactive", "wait");
                if (!target.ContainsKey(name))
                {
                    target[name] = WrongValue().DeepClone();
                    d.Mutations.Add($"unknown field '{name}'");
                }
                break;
            case 4 when slots.Count > 0:
                (parent, key, index) = Pick(slots);
                var s = random.Next(5) == 0 ? HostileValues.Long(random) : Pick(HostileValues.Strings);
                Set(parent, key, index, s);
                d.Mutations.Add($"{SlotName(key, index)}: string {Show(s)}");
                break;
            case 5 when slots.Count > 0:
                (parent, key, index) = Pick(slots);
                var token = Pick(HostileValues.NumberTokens);
                Set(parent, key, index, d.RawToken(token));
                d.Mutations.Add($"{SlotName(key, index)}: number token {token}");
                break;
            case 6 when ((JsonObject)d.Json!).Count > 0:
                var root = (JsonObject)d.Json!;
                var duplicate = root.ElementAt(random.Next(root.Count)).Key;
                d.Duplicates.Add($",{JsonSerializer.Serialize(duplicate)}:{WrongValue().ToJsonString()}");
                d.Mutations.Add($"duplicate key '{duplicate}'");
                break;
            case 7 when slots.Count > 0:
                (parent, key, index) = Pick(slots);
                var depth = Pick(40, 200, 5000);
                var nested = random.Next(2) == 0 ? new string('[', depth) + new string(']', depth) : string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth);
                Set(parent, key, index, d.RawToken(nested));
                d.Mutations.Add($"{SlotName(key, index)}: nested {depth} deep");
                break;
            case 8 when slots.Count > 0:
                (parent, key, index) = Pick(slots);
                var escape = Pick("\"\\ud800\"", "\"a\\udc00b\"", "\"\\u0000\"", "\"\\x41\"", "\"\\u12\"", "'single'", "\"tab\there\"");
                Set(parent, key, index, d.RawToken(escape));
                d.Mutations.Add($"{SlotName(key, index)}: escape {escape}");
                break;
            default:
                // An object or array where a scalar goes, and the reverse, one level down.
                if (slots.Count == 0) break;
                (parent, key, index) = Pick(slots);
                JsonNode value = random.Next(2) == 0 ? new JsonArray("a", 1, null) : new JsonObject { ["nested"] = new JsonObject { ["deeper"] = "x" } };
                Set(parent, key, index, value);
                d.Mutations.Add($"{SlotName(key, index)}: container {value.ToJsonString()}");
                break;
        }
    }

    private void MutateBodyBytes(Draft d)
    {
        switch (random.Next(8))
        {
            case 0:
                d.Patches.Add(b => b.Length > 1 ? b[..random.Next(1, b.Length)] : b);
                d.Mutations.Add("body truncated");
                break;
            case 1:
                var bad = Pick(HostileValues.InvalidUtf8);
                d.Patches.Add(b =>
                {
                    var quote = Array.IndexOf(b, (byte)'"', random.Next(Math.Max(1, b.Length)));
                    var at = quote >= 0 ? quote + 1 : random.Next(b.Length + 1);
                    return [.. b[..at], .. bad, .. b[at..]];
                });
                d.Mutations.Add($"invalid UTF-8 {Convert.ToHexString(bad)}");
                break;
            case 2:
                d.Patches.Add(b => [0xef, 0xbb, 0xbf, .. b]);
                d.Mutations.Add("UTF-8 BOM");
                break;
            case 3:
                var tail = Pick("}", "\0", " x", ",", "\n{}", "]");
                d.Patches.Add(b => [.. b, .. Encoding.UTF8.GetBytes(tail)]);
                d.Mutations.Add($"trailing {Show(tail)}");
                break;
            case 4:
                var whole = Pick("", "null", "[]", "\"str\"", "123", "true", "{", "}", "{'language':'python'}", "{\"a\":1,}", "/* c */{}",
                    "{\"language\":\"python\" \"code\":\"x\"}", "NaN", "{\"\":\"\"}", "[{}]", " ", "\u0000");
                d.Json = null;
                d.Raw = Encoding.UTF8.GetBytes(whole);
                d.Mutations.Add($"body {Show(whole)}");
                break;
            case 5:
                var depth = Pick(100, 10_000, 100_000);
                d.Json = null;
                d.Raw = Encoding.ASCII.GetBytes(new string('[', depth) + new string(']', depth));
                d.Mutations.Add($"body nested {depth} deep");
                break;
            case 6:
                // Past Kestrel's body limit.
                d.Json = null;
                d.Raw = Encoding.ASCII.GetBytes("{\"code\":\"" + new string('a', (int)maxBodyBytes + 1024) + "\"}");
                d.Mutations.Add($"body of {d.Raw.Length} bytes");
                break;
            default:
                if (d.Operation.Body == BodyKind.Multipart)
                {
                    var choice = random.Next(5);
                    d.Raw = choice switch
                    {
                        0 => Multipart(Pick(HostileValues.Strings.Where(s => !s.Contains('"', StringComparison.Ordinal) && !s.Contains('\n', StringComparison.Ordinal)).ToArray()), "x"),
                        1 => Multipart("fuzz.txt", "x", field: "other"),
                        2 => Encoding.UTF8.GetBytes("--" + Boundary + "\r\nContent-Disposition: form-data\r\n\r\nx"),
                        3 => Multipart("fuzz.txt", ""),
                        _ => Encoding.UTF8.GetBytes("--other\r\n\r\n--other--"),
                    };
                    d.Mutations.Add($"multipart variant {choice}");
                }
                else if (d.Operation.Body == BodyKind.Form)
                {
                    var form = Pick("", "password=", "_xsrf=" + state.Xsrf, "_xsrf=x&password=" + state.Password, "%zz=%zz", "a=b&a=c&a=d",
                        "_xsrf=" + state.Xsrf + "&password=" + new string('p', 10_000), "=&=&=");
                    d.Raw = Encoding.UTF8.GetBytes(form);
                    d.Mutations.Add($"form {Show(form)}");
                }
                else
                {
                    d.Json = null;
                    d.Raw = Encoding.UTF8.GetBytes("language=python&code=print(1)");
                    d.Mutations.Add("form body");
                }
                break;
        }
    }

    private void MutateContentType(Draft d)
    {
        if (random.Next(5) == 0)
        {
            d.ContentType = null;
            d.Mutations.Add("no Content-Type");
            return;
        }
        d.ContentType = Pick(HostileValues.ContentTypes);
        d.Mutations.Add($"Content-Type '{Show(d.ContentType)}'");
    }

    private void MutateMethod(Draft d)
    {
        d.Method = Pick(HostileValues.Methods);
        d.Mutations.Add($"method {d.Method}");
    }

    private void MutatePathValue(Draft d)
    {
        var name = Pick(d.PathValues.Keys.ToArray());
        if (random.Next(8) == 0)
        {
            // Bytes no request target may hold: Kestrel's own 400.
            d.RawPathValues[name] = Pick("%00", "a\u00ffb", "a b", "\u00e9", "a\tb");
            d.Mutations.Add($"{name}: raw {Show(d.RawPathValues[name])}");
            return;
        }
        var value = random.Next(6) == 0 ? new string('i', Pick(1000, 5000)) : Pick(HostileValues.Ids);
        d.PathValues[name] = value;
        d.Mutations.Add($"{name}: '{Show(value)}'");
    }

    private void MutatePathShape(Draft d)
    {
        var choice = random.Next(6);
        d.PathShape = choice switch
        {
            0 => p => p + "/",
            1 => p => p + "/extra",
            2 => p => "/" + p,
            3 => p => p.ToUpperInvariant(),
            4 => p => p + "/..",
            _ => p => p.Replace("/api", "/api/./v0/..", StringComparison.Ordinal),
        };
        d.Mutations.Add($"path shape {choice}");
    }

    private void MutateQuery(Draft d)
    {
        var parameters = d.Operation.Parameters.Where(p => p.In == "query").ToList();
        var choice = random.Next(6);
        if (parameters.Count == 0 || choice == 0)
        {
            var name = Pick("bogus", "wait", "token", "user", "limit", "__proto__", "a[b]", "");
            var value = Pick(HostileValues.NumberTexts);
            d.Query.Add(new(name, value));
            d.Mutations.Add($"query {name}={Show(value)}");
            return;
        }
        var p = Pick(parameters);
        d.Query.RemoveAll(q => q.Key == p.Name);
        switch (choice)
        {
            case 1:
                d.Mutations.Add($"query {p.Name} missing");
                break;
            case 2:
                d.Query.Add(new(p.Name, "1"));
                d.Query.Add(new(p.Name, "2"));
                d.Mutations.Add($"query {p.Name} twice");
                break;
            case 3:
                var s = random.Next(8) == 0 ? new string('q', Pick(2000, 9000)) : Pick(HostileValues.Strings);
                d.Query.Add(new(p.Name, s));
                d.Mutations.Add($"query {p.Name}='{Show(s)}'");
                break;
            default:
                var n = Pick(HostileValues.NumberTexts);
                d.Query.Add(new(p.Name, n));
                d.Mutations.Add($"query {p.Name}={Show(n)}");
                break;
        }
    }

    private void MutateHeaders(Draft d)
    {
        switch (random.Next(6))
        {
            case 0:
                d.Headers.RemoveAll(h => h.Key == "X-User-Id");
                var user = Pick(HostileValues.UserIds);
                d.Headers.Add(new("X-User-Id", Encoding.UTF8.GetBytes(user)));
                d.Mutations.Add($"X-User-Id '{Show(user)}'");
                break;
            case 1:
                d.Headers.RemoveAll(h => h.Key == "X-Session-Id");
                var chat = Pick(HostileValues.ChatIds);
                d.Headers.Add(new("X-Session-Id", Encoding.UTF8.GetBytes(chat)));
                d.Mutations.Add($"X-Session-Id '{Show(chat)}'");
                break;
            case 2:
                d.Headers.RemoveAll(h => h.Key is "X-User-Id" or "X-Session-Id");
                d.Mutations.Add("no X-User-Id/X-Session-Id");
                break;
            case 3:
                var name = Pick(HostileValues.HeaderNames);
                var value = random.Next(2) == 0 ? Pick(HostileValues.NumberTexts) : Pick(HostileValues.Strings.Where(v => !v.Contains('\r') && !v.Contains('\n') && !v.Contains('\0')).ToArray());
                d.Headers.Add(new(name, Encoding.UTF8.GetBytes(value)));
                d.Mutations.Add($"{name}: '{Show(value)}'");
                break;
            case 4:
                var header = Pick("X-User-Id", "X-Session-Id", "X-Chat-Id", "Authorization");
                var bytes = Pick(HostileValues.InvalidUtf8);
                d.Headers.RemoveAll(h => h.Key == header);
                if (header == "Authorization") d.Authorization = null;
                d.Headers.Add(new(header, [.. "ab"u8, .. bytes]));
                d.Mutations.Add($"{header}: invalid UTF-8 {Convert.ToHexString(bytes)}");
                break;
            default:
                d.Headers.RemoveAll(h => h.Key == "X-User-Id");
                d.Headers.Add(new("X-User-Id", "a\0b"u8.ToArray()));
                d.Mutations.Add("X-User-Id with NUL");
                break;
        }
    }

    private void MutateAuthorization(Draft d)
    {
        switch (random.Next(5))
        {
            case 0:
                d.Authorization = null;
                d.Query.RemoveAll(q => q.Key == "token");
                d.Cookies.Clear();
                d.Mutations.Add("no credentials");
                break;
            case 1:
                d.Authorization = "Bearer wrong-key-" + random.Next(1000);
                d.Mutations.Add("wrong key");
                break;
            case 2:
                d.Authorization = Pick(HostileValues.Authorizations(state.BootstrapKey).ToArray());
                d.Mutations.Add($"Authorization '{Show(d.Authorization)}'");
                break;
            case 3:
                d.Authorization = "Bearer " + state.ExecuteKey;
                d.Mutations.Add("execute-scope key");
                break;
            default:
                d.Authorization = null;
                d.Query.Add(new("token", Pick(state.BootstrapKey, state.ExecuteKey, "wrong", "")));
                d.Mutations.Add("?token=");
                break;
        }
    }

    private void MutateCookies(Draft d)
    {
        var cookie = Pick(HostileValues.Cookies(state.LoginCookie, state.Xsrf).ToArray());
        if (random.Next(2) == 0)
        {
            d.Authorization = null;
            d.Query.RemoveAll(q => q.Key == "token");
        }
        d.Cookies.Clear();
        d.Cookies.Add(cookie);
        if (random.Next(2) == 0) d.Headers.Add(new("X-XSRFToken", Encoding.UTF8.GetBytes(Pick(state.Xsrf, "other", ""))));
        d.Mutations.Add($"Cookie '{Show(cookie)}'");
    }
}
