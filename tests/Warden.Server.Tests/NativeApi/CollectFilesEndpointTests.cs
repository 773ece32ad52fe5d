using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace Warden.Server.Tests.NativeApi;

/// <summary>
/// Special files left for collect_files, through HTTP: a FIFO left for collect_files used to hang its request and hold its slot
/// (four of them stopped the service), a socket gave a 500 and lost the output, and files 'a' and 'a/b' gave a 500.
/// </summary>
public sealed class CollectFilesEndpointTests(SharedServer fixture) : IClassFixture<SharedServer>
{
    private HttpClient Client => fixture.Server.Client;

    [Fact]
    public async Task Execute_FifosLeftForCollection_EveryRequestAnswersAndTheServiceStaysUp()
    {
        var watch = Stopwatch.StartNew();
        var answers = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ =>
            Json.PostAsync(Client, "/api/v1/execute", new { language = "bash", code = "mkfifo f", collect_files = true })));

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"took {watch.Elapsed}");
        foreach (var (response, body) in answers)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("success", body.GetProperty("status").GetString());
            var skipped = Assert.Single(body.GetProperty("files_skipped").EnumerateArray());
            Assert.Equal("f", skipped.GetProperty("name").GetString());
            Assert.Equal("fifo", skipped.GetProperty("reason").GetString());
        }
        using var ready = await Client.GetAsync("/readyz", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var (_, next) = await Json.PostAsync(Client, "/api/v1/execute", new { language = "python", code = "print('next')" });
        Assert.Equal("next\n", next.GetProperty("stdout").GetString());
    }

    [Fact]
    public async Task Execute_SocketLeftForCollection_OutputKeptSocketReported()
    {
        var code = "import socket\nsocket.socket(socket.AF_UNIX).bind('sock')\nopen('out.txt', 'w').write('kept')\nprint('bound')";

        var (response, body) = await Json.PostAsync(Client, "/api/v1/execute", new { language = "python", code, collect_files = true });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("bound\n", body.GetProperty("stdout").GetString());
        Assert.Equal(["out.txt"], body.GetProperty("files").EnumerateArray().Select(f => f.GetProperty("name").GetString()));
        Assert.Contains(body.GetProperty("files_skipped").EnumerateArray(),
            s => s.GetProperty("name").GetString() == "sock" && s.GetProperty("reason").GetString() == "socket");
    }

    [Fact]
    public async Task Execute_FileAndDirectoryOfOneName_IsA400NamingThem()
    {
        var (response, body) = await Json.PostAsync(Client, "/api/v1/execute", new
        {
            language = "bash", collect_files = true,
            files = new[] { new { name = "main.sh", content = "echo hi" }, new { name = "a", content = "x" }, new { name = "a/b", content = "y" } },
        });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("'a/b'", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Execute_WithoutCollectFiles_HasNoSkippedList()
    {
        var (_, body) = await Json.PostAsync(Client, "/api/v1/execute", new { language = "bash", code = "mkfifo f" });

        Assert.False(body.TryGetProperty("files_skipped", out var skipped) && skipped.ValueKind != JsonValueKind.Null);
    }
}
