using System.Net;

namespace Warden.Server.Tests.Security;

/// <summary>
/// <c>GET /api/v1/executions?since=</c> takes unix seconds too: a number outside the range of a date is the caller's
/// mistake (400 naming <c>since</c>), not a 500 from the date conversion — any execute key can send it.
/// </summary>
public sealed class HistoryQueryInputTests
{
    [Theory]
    [InlineData("99999999999999")]
    [InlineData("-99999999999999")]
    [InlineData("9223372036854775807")]
    public async Task Since_OutOfTheDateRange_IsA400(string since)
    {
        await using var server = await WardenTestServer.StartAsync(apiKey: "history-input-key");
        var response = await server.Client.GetAsync("/api/v1/executions?since=" + since, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"since={since} answered {(int)response.StatusCode}: {text}");
        Assert.Equal("since", (await Json.ReadAsync(response)).GetProperty("parameter").GetString());
    }
}
