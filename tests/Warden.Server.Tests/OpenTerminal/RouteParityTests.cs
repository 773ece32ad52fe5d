using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>
/// Warden's <c>/terminal</c> against the route set of open-terminal 0.11.34, written down once in
/// <c>open-terminal-0.11.34-routes.json</c> from the research: the OpenAPI operations (ids, methods, paths, parameters,
/// bodies) compared with Warden's document, and every route upstream hides from it probed live, with upstream's status
/// and <c>detail</c> for the same request, the key required where upstream requires it, and the feature-gated routes
/// (terminals, notebooks) served exactly when <c>/api/config</c> says so.
/// </summary>
public sealed class RouteParityTests(CappedArchiveServer withInfo, SharedTerminalServer withoutInfo)
    : IClassFixture<CappedArchiveServer>, IClassFixture<SharedTerminalServer>
{
    private static readonly string[] SchemaMethods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

    private static readonly Lazy<JsonElement> Routes = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "OpenTerminal", "open-terminal-0.11.34-routes.json"))).RootElement);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task OpenApiOperations_AreOpenTerminals_IdsMethodsPathsParametersAndBodies()
    {
        await AssertSchemaAsync(withInfo.Server, infoIsSet: true);
        await AssertSchemaAsync(withoutInfo.Server, infoIsSet: false);
    }

    [Fact]
    public async Task Info_WithoutOperatorText_Is404_AsUpstreamWithoutTheRoute()
    {
        using var user = withoutInfo.Server.For("parity-noinfo");
        var (status, _) = await user.GetAsync("info");
        Assert.Equal(404, status);
    }

    [Fact]
    public async Task HiddenRoutes_AnswerAsUpstream_ToTheSameRequests()
    {
        using var user = withInfo.Server.For("parity-user");
        using var anonymous = withInfo.Server.For("parity-user", bearer: null);
        var (status, config) = await user.GetAsync("api/config");
        Assert.Equal(200, status);
        var features = config.GetProperty("features");
        var failures = new List<string>();
        var probed = 0;
        foreach (var route in Routes.Value.GetProperty("hidden").EnumerateArray())
        {
            var name = $"{route.GetProperty("method").GetString()} {route.GetProperty("path").GetString()}";
            bool served = !route.TryGetProperty("feature", out var feature) || features.GetProperty(feature.GetString()!).GetBoolean();
            var probes = route.GetProperty("probes").EnumerateArray().ToList();
            foreach (var probe in probes)
            {
                probed++;
                using var response = await SendAsync(user, probe);
                var text = await response.Content.ReadAsStringAsync(Ct);
                if (!served)
                {
                    // Upstream mounts no such route while the feature is off.
                    if (response.StatusCode != HttpStatusCode.NotFound) failures.Add($"{name}: feature off, yet {(int)response.StatusCode} {text}");
                    continue;
                }
                var problem = Check(probe, response, text);
                if (problem is not null) failures.Add($"{name} ({probe.GetProperty("path").GetString()}): {problem}");
            }
            if (served && route.GetProperty("auth").GetString() == "key" && !IsKnownDifference(route) && probes.Count > 0)
            {
                // Without the key: upstream's 401, before anything else is looked at.
                using var response = await SendAsync(anonymous, probes[0]);
                if (response.StatusCode != HttpStatusCode.Unauthorized) failures.Add($"{name}: {(int)response.StatusCode} without the key, not 401");
            }
        }
        Assert.True(failures.Count == 0, string.Join('\n', failures));
        Assert.True(probed >= 25, $"only {probed} probes ran");
    }

    [Fact]
    public async Task HiddenRoutes_StayOutOfTheOpenApiDocument()
    {
        using var anonymous = withInfo.Server.For("", chatId: null, bearer: null);
        var (_, document) = await anonymous.GetAsync("openapi.json");
        var paths = document.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var route in Routes.Value.GetProperty("hidden").EnumerateArray())
        {
            var path = route.GetProperty("path").GetString()!;
            Assert.False(paths.Contains(path), $"{path} is hidden from open-terminal's schema (a tool Open WebUI would offer the model)");
        }
    }

    /// <summary>open-terminal drops a query value of <c>null</c> (the model's absent argument): the default applies.</summary>
    [Fact]
    public async Task NullQueryValues_AreDropped()
    {
        using var user = withInfo.Server.For("parity-null");
        var (status, body) = await user.GetAsync("files/list?directory=null");
        Assert.True(status == 200, body.ToString());
        var (_, cwd) = await user.GetAsync("files/cwd");
        Assert.Equal(cwd.GetProperty("cwd").GetString(), body.GetProperty("dir").GetString());
    }

    private static async Task AssertSchemaAsync(TerminalTestServer server, bool infoIsSet)
    {
        using var anonymous = server.For("", chatId: null, bearer: null);
        var (status, document) = await anonymous.GetAsync("openapi.json");
        Assert.Equal(200, status);
        // A known difference: Warden names itself before upstream's title (Open WebUI shows it as the server's name).
        Assert.Equal("Warden " + Routes.Value.GetProperty("title").GetString(), document.GetProperty("info").GetProperty("title").GetString());
        var actual = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in document.GetProperty("paths").EnumerateObject())
        {
            foreach (var op in path.Value.EnumerateObject().Where(o => SchemaMethods.Contains(o.Name)))
                actual[op.Value.GetProperty("operationId").GetString()!] = Describe(op.Name.ToUpperInvariant(), path.Name, op.Value);
        }
        var expected = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var op in Routes.Value.GetProperty("schema").EnumerateArray())
        {
            if (op.TryGetProperty("onlyWhenInfoIsSet", out var conditional) && conditional.GetBoolean() && !infoIsSet) continue;
            var parameters = op.GetProperty("parameters").EnumerateArray()
                .Select(p => $"{p.GetProperty("in").GetString()}:{p.GetProperty("name").GetString()}{(p.GetProperty("required").GetBoolean() ? "!" : "")}");
            expected[op.GetProperty("operationId").GetString()!] = Line(op.GetProperty("method").GetString()!, op.GetProperty("path").GetString()!,
                parameters, op.GetProperty("body").GetBoolean());
        }
        // One line per operation, so a difference names the route and what differs in it.
        Assert.Equal(expected.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}"),
            actual.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}"));
    }

    private static string Describe(string method, string path, JsonElement op)
    {
        var parameters = op.TryGetProperty("parameters", out var list)
            ? list.EnumerateArray().Select(p => $"{p.GetProperty("in").GetString()}:{p.GetProperty("name").GetString()}" +
                (p.TryGetProperty("required", out var r) && r.GetBoolean() ? "!" : ""))
            : [];
        return Line(method, path, parameters, op.TryGetProperty("requestBody", out _));
    }

    private static string Line(string method, string path, IEnumerable<string> parameters, bool body) =>
        $"{method} {path} [{string.Join(' ', parameters.Order(StringComparer.Ordinal))}]{(body ? " +body" : "")}";

    private static bool IsKnownDifference(JsonElement route) =>
        Routes.Value.GetProperty("knownDifferences").EnumerateArray().Any(d =>
            d.GetProperty("method").GetString() == route.GetProperty("method").GetString() && d.GetProperty("path").GetString() == route.GetProperty("path").GetString());

    private static async Task<HttpResponseMessage> SendAsync(TerminalClient client, JsonElement probe)
    {
        var request = new HttpRequestMessage(new HttpMethod(probe.GetProperty("method").GetString()!), probe.GetProperty("path").GetString()!.TrimStart('/'));
        if (probe.TryGetProperty("body", out var body)) request.Content = new StringContent(body.GetRawText(), Encoding.UTF8, "application/json");
        if (probe.TryGetProperty("multipart", out var file))
        {
            var form = new MultipartFormDataContent();
            var content = new ByteArrayContent("x"u8.ToArray());
            content.Headers.ContentType = MediaTypeHeaderValue.Parse("text/plain");
            form.Add(content, "file", file.GetString()!);
            request.Content = form;
        }
        return await client.Http.SendAsync(request, Ct);
    }

    /// <summary>What differs from upstream's answer to the probe, or null.</summary>
    private static string? Check(JsonElement probe, HttpResponseMessage response, string text)
    {
        int status = probe.GetProperty("status").GetInt32();
        if ((int)response.StatusCode != status) return $"{(int)response.StatusCode}, upstream {status}: {text}";
        if (probe.GetProperty("method").GetString() == "HEAD") return null;
        JsonElement json;
        try
        {
            json = JsonDocument.Parse(text).RootElement;
        }
        catch (JsonException)
        {
            return $"not JSON: {text}";
        }
        if (probe.TryGetProperty("field", out var field) && !json.TryGetProperty(field.GetString()!, out _)) return $"no {field} in {text}";
        if (probe.TryGetProperty("value", out var value) && json.GetProperty(field.GetString()!).GetString() != value.GetString()) return $"{field} is not {value}: {text}";
        if (probe.TryGetProperty("detail", out var detail)
            && !(json.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.String && d.GetString()!.TrimEnd('.') == detail.GetString()))
            return $"detail is not \"{detail}\": {text}";
        if (probe.TryGetProperty("error", out var error) && !(json.TryGetProperty("error", out var e) && e.GetString() == error.GetString()))
            return $"error is not \"{error}\": {text}";
        if (status == 422)
        {
            // FastAPI's validation shape: a list of {type, loc, msg, input}.
            if (!json.TryGetProperty("detail", out var list) || list.ValueKind != JsonValueKind.Array)
            {
                if (!probe.TryGetProperty("detail", out _)) return $"422 without FastAPI's detail list: {text}";
            }
            else
            {
                var first = list.EnumerateArray().First();
                foreach (var member in new[] { "type", "loc", "msg" })
                    if (!first.TryGetProperty(member, out _)) return $"422 detail without {member}: {text}";
                if (probe.TryGetProperty("loc", out var loc))
                {
                    var actual = string.Join('/', first.GetProperty("loc").EnumerateArray().Select(l => l.ToString()));
                    if (actual != loc.GetString()) return $"loc {actual}, upstream {loc}: {text}";
                }
            }
        }
        return null;
    }
}
