using System.Net;
using System.Text;
using System.Text.Json;

namespace Warden.Server.Tests.NativeApi;

/// <summary>Bad input gets a clear RFC 7807 problem with the right 4xx, never a 500.</summary>
public sealed class BadInputTests(SharedServer fixture) : IClassFixture<SharedServer>
{
    private HttpClient Client => fixture.Server.Client;

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string detailContains)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = await Json.ReadAsync(response);
        Assert.Equal((int)status, body.GetProperty("status").GetInt32());
        Assert.Contains(detailContains, body.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
        return body;
    }

    [Fact]
    public async Task Execute_MalformedJson_Returns400()
    {
        var response = await Client.PostAsync("/api/v1/execute", new StringContent("{\"language\": \"python\", \"code\": ", Encoding.UTF8, "application/json"),
            TestContext.Current.CancellationToken);
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "Malformed JSON");
    }

    [Fact]
    public async Task Execute_WrongFieldType_Returns400NamingTheField()
    {
        var response = await Client.PostAsync("/api/v1/execute", new StringContent("{\"language\":\"python\",\"code\":\"1\",\"timeout\":\"soon\"}", Encoding.UTF8, "application/json"),
            TestContext.Current.CancellationToken);
        var body = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "timeout must be a number");
        Assert.Equal("timeout", body.GetProperty("parameter").GetString());
    }

    /// <summary>The serializer's own messages named .NET types ("could not be converted to System.Int32").</summary>
    [Theory]
    [InlineData("{\"language\":\"python\",\"code\":\"1\",\"memory_mb\":1e40}", "memory_mb must be an integer", "memory_mb")]
    [InlineData("{\"language\":\"python\",\"code\":\"1\",\"memory_mb\":1.5}", "memory_mb must be an integer", "memory_mb")]
    [InlineData("{\"language\":\"python\",\"code\":\"1\",\"max_output_bytes\":\"NaN\"}", "max_output_bytes must be an integer", "max_output_bytes")]
    [InlineData("{\"language\":\"python\",\"code\":\"1\",\"timeout\":1e999}", "timeout is not a number", "timeout")]
    [InlineData("{\"language\":\"python\",\"code\":\"1\",\"network\":\"yes\"}", "network must be true or false", "network")]
    [InlineData("{\"language\":\"python\",\"code\":\"1\",\"files\":\"x\"}", "files must be an array", "files")]
    [InlineData("{\"language\":\"python\",\"files\":[{\"name\":5,\"content\":\"1\"}]}", "files[0].name must be a string", "files[0].name")]
    [InlineData("{\"language\":\"python\",\"code\":\"1\",\"args\":[null]}", "args[0] must not be null", "args[0]")]
    [InlineData("{\"language\":\"python\",\"files\":[null]}", "files[0] must not be null", "files[0]")]
    [InlineData("{\"language\":\"python\",\"code\":{\"a\":1}}", "code must be a string", "code")]
    [InlineData("{\"language\":\"python\",\"code\":\"\\ud800\"}", "code is not valid text", "code")]
    public async Task Execute_BadFieldValue_NamesTheFieldInWordsNotTypes(string json, string detail, string parameter)
    {
        var response = await Client.PostAsync("/api/v1/execute", new StringContent(json, Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        var body = await AssertProblemAsync(response, HttpStatusCode.BadRequest, detail);
        Assert.Equal(parameter, body.GetProperty("parameter").GetString());
        Assert.DoesNotMatch(@"System\.|Int32|Int64|Double|Nullable|Warden\.", body.GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("{\"language\":\"python\",\"code\":\"1\",\"bogus\":1}", "bogus")]
    [InlineData("{\"language\":\"python\",\"code\":\"1\",\"Code\":\"2\"}", "Code")]
    [InlineData("{\"language\":\"python\",\"files\":[{\"name\":\"a.py\",\"content\":\"1\",\"mode\":\"755\"}]}", "files[0].mode")]
    public async Task Execute_UnknownField_Returns400NamingIt(string json, string field)
    {
        var response = await Client.PostAsync("/api/v1/execute", new StringContent(json, Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        var body = await AssertProblemAsync(response, HttpStatusCode.BadRequest, $"Unknown field '{field}'");
        Assert.Equal(field, body.GetProperty("parameter").GetString());
    }

    [Fact]
    public async Task Execute_DuplicateKey_Returns400()
    {
        var response = await Client.PostAsync("/api/v1/execute",
            new StringContent("{\"language\":\"python\",\"code\":\"print(1)\",\"code\":\"print(2)\"}", Encoding.UTF8, "application/json"),
            TestContext.Current.CancellationToken);
        var body = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "code appears more than once");
        Assert.Equal("code", body.GetProperty("parameter").GetString());
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("[1]", "must be a JSON object")]
    [InlineData("\"print(1)\"", "must be a JSON object")]
    public async Task Execute_BodyNotAnObject_Returns400(string json, string detail)
    {
        var response = await Client.PostAsync("/api/v1/execute", new StringContent(json, Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, detail);
    }

    [Fact]
    public async Task Execute_DeeplyNestedJson_Returns400()
    {
        var json = "{\"language\":\"python\",\"code\":\"1\",\"args\":" + new string('[', 10_000) + new string(']', 10_000) + "}";
        var response = await Client.PostAsync("/api/v1/execute", new StringContent(json, Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "depth");
    }

    [Fact]
    public async Task Execute_InvalidUtf8_Returns400()
    {
        var bytes = new ByteArrayContent([.. "{\"language\":\"python\",\"code\":\""u8, 0xff, 0xfe, .. "\"}"u8]);
        bytes.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var response = await Client.PostAsync("/api/v1/execute", bytes, TestContext.Current.CancellationToken);
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "not valid UTF-8");
    }

    [Theory]
    [InlineData("/api/v1/sessions", "{\"language\":\"python\",\"memory\":512}", "memory")]
    [InlineData("/api/v1/admin/keys", "{\"name\":\"k\",\"scope\":\"admin\"}", "scope")]
    public async Task OtherBodies_UnknownField_Returns400NamingIt(string path, string json, string field)
    {
        var response = await Client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, $"Unknown field '{field}'");
    }

    [Theory]
    [InlineData("/api/v1/executions?limit=abc", "limit must be an integer", "limit")]
    [InlineData("/api/v1/executions?limit=1&limit=2", "limit must be an integer", "limit")]
    public async Task QueryParameterOfTheWrongType_NamesIt(string path, string detail, string parameter)
    {
        var response = await Client.GetAsync(path, TestContext.Current.CancellationToken);
        var body = await AssertProblemAsync(response, HttpStatusCode.BadRequest, detail);
        Assert.Equal(parameter, body.GetProperty("parameter").GetString());
    }

    /// <summary>Fuzz find: the problem writer declined a request that accepts no JSON, and every refusal became a bare 500.</summary>
    [Theory]
    [InlineData("text/html")]
    [InlineData("....//....//etc/passwd")]
    public async Task Problems_AreWritten_WhateverTheAcceptHeader(string accept)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/execute") { Content = new StringContent("{", Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Accept", accept);
        var response = await Client.SendAsync(request, TestContext.Current.CancellationToken);
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "Malformed JSON");
        using var unknown = new HttpRequestMessage(HttpMethod.Get, "/api/v1/nope");
        unknown.Headers.TryAddWithoutValidation("Accept", accept);
        await AssertProblemAsync(await Client.SendAsync(unknown, TestContext.Current.CancellationToken), HttpStatusCode.NotFound, "No endpoint");
    }

    [Fact]
    public async Task Execute_WrongContentType_Returns415()
    {
        var response = await Client.PostAsync("/api/v1/execute", new StringContent("print(1)", Encoding.UTF8, "text/plain"), TestContext.Current.CancellationToken);
        await AssertProblemAsync(response, HttpStatusCode.UnsupportedMediaType, "application/json");
    }

    [Fact]
    public async Task Execute_UnknownLanguage_Returns400ListingAvailable()
    {
        var response = await Client.PostAsync("/api/v1/execute", Json.Body(new { language = "cobol-2099", code = "x" }), TestContext.Current.CancellationToken);
        var body = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "python");
        Assert.Equal("cobol-2099", body.GetProperty("language").GetString());
    }

    [Theory]
    [InlineData("{\"language\":\"python\",\"code\":\"   \"}", "empty")]
    [InlineData("{\"language\":\"python\"}", "empty")]
    [InlineData("{\"code\":\"print(1)\"}", "language")]
    [InlineData("{\"language\":\"python\",\"code\":\"print(1)\",\"timeout\":0}", "timeout")]
    [InlineData("{\"language\":\"python\",\"code\":\"print(1)\",\"memory_mb\":-5}", "memory_mb")]
    [InlineData("{\"language\":\"python\",\"code\":\"print(1)\",\"timeout\":100000}", "timeout")]
    [InlineData("{\"language\":\"python\",\"code\":\"print(1)\",\"memory_mb\":999999}", "memory_mb")]
    [InlineData("{\"language\":\"python\",\"files\":[{\"name\":\"../x.py\",\"content\":\"1\"}]}", "..")]
    [InlineData("null", "empty")]
    public async Task Execute_InvalidRequest_Returns400(string json, string detail)
    {
        var response = await Client.PostAsync("/api/v1/execute", new StringContent(json, Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, detail);
    }

    [Fact]
    public async Task Execute_LimitAboveCeiling_NamesTheLimit()
    {
        var response = await Client.PostAsync("/api/v1/execute", Json.Body(new { language = "python", code = "1", max_processes = 100000 }), TestContext.Current.CancellationToken);
        var body = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "ceiling");
        Assert.Equal("max_processes", body.GetProperty("limit").GetString());
    }

    [Fact]
    public async Task Execute_CodeOverSizeCap_Returns413()
    {
        var response = await Client.PostAsync("/api/v1/execute", Json.Body(new { language = "python", code = "#" + new string('x', 2 << 20) }), TestContext.Current.CancellationToken);
        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "limit");
    }

    [Fact]
    public async Task UnknownRoute_Returns404Problem()
    {
        var response = await Client.GetAsync("/api/v1/nope", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}
