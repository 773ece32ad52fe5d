using System.Net;
using System.Text;
using System.Text.Json;

namespace Warden.Server.Tests.NativeApi;

/// <summary>
/// <c>POST /api/v1/sessions</c> reads <c>"network"</c> as execute does: refused before any sandbox starts when the
/// ceiling is empty or a pattern is outside it (a 400 naming the place), never a 500.
/// </summary>
public sealed class SessionNetworkShapeTests(EgressServer fixture, SharedServer noEgress) : IClassFixture<EgressServer>, IClassFixture<SharedServer>
{
    private static async Task<JsonElement> CreateAsync(HttpClient client, string json)
    {
        var response = await client.PostAsync("/api/v1/sessions", new StringContent(json, Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return await Json.ReadAsync(response);
    }

    [Fact]
    public async Task NetworkTrue_EmptyCeiling_400NamingNetwork()
    {
        var body = await CreateAsync(noEgress.Server.Client, """{"language":"python","network":true}""");

        Assert.Equal("network", body.GetProperty("parameter").GetString());
        Assert.Contains("WARDEN_EGRESS_ALLOW is empty", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"allow":["a.test","c.test"]}""", "network.allow[1]")]
    [InlineData("""{"allow":"a.test"}""", "network.allow")]
    [InlineData("""[]""", "network")]
    public async Task NetworkAllow_Bad_400NamingThePlace(string network, string parameter)
    {
        var body = await CreateAsync(fixture.Server.Client, $$"""{"language":"python","network":{{network}}}""");

        Assert.Equal(parameter, body.GetProperty("parameter").GetString());
        var list = await Json.ReadAsync(await fixture.Server.Client.GetAsync("/api/v1/sessions", TestContext.Current.CancellationToken));
        Assert.Equal(0, list.GetArrayLength());
    }
}
