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
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "timeout");
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
