using System.Net;

namespace Warden.Server.Tests.Security;

/// <summary>
/// A session's limits are the caller's choice (within the ceiling). Limits too small for the kernel to start are the
/// caller's mistake, so the answer is a 4xx problem naming it — not a 500 "kernel start failed" that any tenant can
/// provoke at will (each one an error with a stack trace in the server's log).
/// </summary>
public sealed class SessionLimitsTooSmallTests
{
    public static TheoryData<string, int?, int?> TooSmall => new()
    {
        { "python", 1, null },
        { "python", null, 1 },
        { "bash", null, 1 },
    };

    [Theory]
    [MemberData(nameof(TooSmall))]
    public async Task Session_WithLimitsTooSmallForItsKernel_IsA4xxProblem(string language, int? memoryMb, int? maxProcesses)
    {
        await using var server = await WardenTestServer.StartAsync();
        var (response, problem) = await Json.PostAsync(server.Client, "/api/v1/sessions",
            new { language, memory_mb = memoryMb, max_processes = maxProcesses });
        Assert.True((int)response.StatusCode is >= 400 and < 500,
            $"Creating a {language} session with memory_mb={memoryMb}, max_processes={maxProcesses} answered {(int)response.StatusCode}: {problem}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.NotEqual(HttpStatusCode.NotFound, response.StatusCode);
    }
}
