using System.Net;

namespace Warden.Server.Tests.Security;

/// <summary>A plain HTTP request to a kernel's channels route is a 400 problem (RFC 7807) like every other refusal, not text.</summary>
public sealed class JupyterChannelsPlainRequestTests
{
    [Fact]
    public async Task KernelChannels_WithoutAWebSocketUpgrade_IsA400Problem()
    {
        const string token = "channels-plain-token";
        await using var server = await WardenTestServer.StartAsync(apiKey: token);
        var ct = TestContext.Current.CancellationToken;
        using var started = await server.Client.PostAsync("/api/kernels", new StringContent(""), ct);
        var id = (await Json.ReadAsync(started)).GetProperty("id").GetString()!;
        using var response = await server.Client.GetAsync($"/api/kernels/{id}/channels", ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}
