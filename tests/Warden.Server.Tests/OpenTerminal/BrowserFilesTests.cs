using System.IO.Compression;
using System.Net;
using System.Text.Json;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>A server whose archives are capped at 1 MiB and whose operator wrote an /info text.</summary>
public sealed class CappedArchiveServer : IAsyncLifetime
{
    public const long Cap = 1 << 20;

    public TerminalTestServer Server { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Server = await TerminalTestServer.StartAsync(new()
    {
        ["Warden:OpenTerminal:MaxArchiveBytes"] = Cap.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Warden:OpenTerminal:Info"] = "GPU-less sandbox; datasets under ~/data.",
    });

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// <c>/files/serve/{path}</c>, <c>/files/archive</c> and <c>/info</c>: a user gets their own files (inline, with the
/// preview headers; zipped, streamed, cut at the cap) and nothing outside their home, whatever path or link they try.
/// </summary>
public sealed class BrowserFilesTests(CappedArchiveServer fixture) : IClassFixture<CappedArchiveServer>
{
    private TerminalTestServer Terminal => fixture.Server;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Serve_HtmlPageAndSiblingAssets_InlineWithTheirTypesAndPreviewHeaders()
    {
        using var user = Terminal.For("serve-user");
        await user.RunAsync("mkdir -p ~/site/img && printf '<img src=img/a.png><script src=app.js></script>' > ~/site/index.html && " +
            "printf 'console.log(1)' > ~/site/app.js && printf 'body{}' > ~/site/s.css && printf '\\x89PNG\\r\\n' > ~/site/img/a.png");
        using var page = await user.Http.GetAsync("files/serve/home/user/site/index.html", Ct);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Null(page.Content.Headers.ContentDisposition);
        Assert.StartsWith("sandbox ", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Equal("<img src=img/a.png><script src=app.js></script>", await page.Content.ReadAsStringAsync(Ct));
        foreach (var (path, type) in new[] { ("site/app.js", "javascript"), ("site/s.css", "text/css"), ("site/img/a.png", "image/png") })
        {
            using var asset = await user.Http.GetAsync(new Uri(page.RequestMessage!.RequestUri!, path.Replace("site/", "", StringComparison.Ordinal)), Ct);
            Assert.Equal(HttpStatusCode.OK, asset.StatusCode);
            Assert.Contains(type, asset.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        }
        using var missing = await user.Http.GetAsync("files/serve/home/user/site/nope.html", Ct);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Serve_And_Archive_RefuseEverythingOutsideTheHome()
    {
        using var alice = Terminal.For("escape-alice");
        using var bob = Terminal.For("escape-bob");
        await alice.RunAsync("echo alice-secret > ~/secret.txt");
        var aliceHostHome = Terminal.HostHome("escape-alice");
        await bob.RunAsync($"ln -sf /etc/passwd ~/passwd-link; ln -sf {aliceHostHome}/secret.txt ~/alice-link; ln -sfn / ~/root-link; " +
            "mkdir -p ~/d && echo mine > ~/d/own.txt && ln -sf /etc/hostname ~/d/host-link && ln -sfn /usr ~/d/usr-link");

        foreach (var path in new[] { "etc/passwd", "home/user/passwd-link", "home/user/alice-link", "home/user/root-link/etc/passwd",
                     "home/user/%2e%2e/%2e%2e/etc/passwd", $"{aliceHostHome.TrimStart('/')}/secret.txt" })
        {
            using var response = await bob.Http.GetAsync("files/serve/" + path, Ct);
            var text = await response.Content.ReadAsStringAsync(Ct);
            Assert.True((int)response.StatusCode is 403 or 404, $"{path}: {(int)response.StatusCode} {text}");
            Assert.DoesNotContain("root:", text, StringComparison.Ordinal);
            Assert.DoesNotContain("alice-secret", text, StringComparison.Ordinal);
        }

        foreach (var path in new[] { "/etc", "/etc/passwd", "../..", "~/passwd-link", "~/alice-link", "~/root-link", aliceHostHome })
        {
            var (status, body) = await bob.PostAsync("files/archive", new { paths = new[] { path } });
            Assert.True(status is 403 or 404, $"{path}: {status} {body}");
        }
        // A directory with links inside: the links are left out, never followed.
        using var zip = await ArchiveAsync(bob, "~/d");
        Assert.Equal(["d/own.txt"], zip.Entries.Select(e => e.FullName).Order());
        Assert.Equal("mine\n", new StreamReader(zip.Entries[0].Open()).ReadToEnd());
    }

    [Fact]
    public async Task Archive_FilesAndDirectories_StreamedAsZipWithOpenTerminalsNames()
    {
        using var user = Terminal.For("archive-user");
        await user.RunAsync("mkdir -p ~/proj/src ~/proj/empty && echo a > ~/proj/src/a.py && echo b > ~/proj/b.txt && echo n > ~/notes.md");
        using var response = await PostArchiveAsync(user, ["proj", "/home/user/notes.md"]);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/zip", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("attachment", response.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal("download.zip", response.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
        Assert.True(response.Headers.TransferEncodingChunked, "the archive is streamed, not buffered to a length");
        using var zip = new ZipArchive(await response.Content.ReadAsStreamAsync(Ct));
        Assert.Equal(["notes.md", "proj/b.txt", "proj/empty/", "proj/src/a.py"], zip.Entries.Select(e => e.FullName).Order(StringComparer.Ordinal));

        using var single = await PostArchiveAsync(user, ["proj/"]);
        Assert.Equal("proj.zip", single.Content.Headers.ContentDisposition?.FileName?.Trim('"'));

        var (status, body) = await user.PostAsync("files/archive", new { paths = Array.Empty<string>() });
        Assert.Equal(400, status);
        Assert.Equal("No paths provided", body.GetProperty("detail").GetString());
        (status, body) = await user.PostAsync("files/archive", new { paths = new[] { "proj", "missing" } });
        Assert.Equal(404, status);
        Assert.Equal("Path not found: missing", body.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Archive_OverTheCap_IsCutOff_RandomBytesAndZeros()
    {
        using var user = Terminal.For("archive-cap");
        // Random bytes do not compress: the output passes the cap. Zeros compress ~1000:1 (a zip bomb in reverse:
        // 20 MB read for 20 KB sent): the bytes read pass the cap, so a sandbox never spends minutes on one. Real zeros
        // rather than a sparse file, so the setup is the same on every backend's filesystem.
        var made = await user.RunAsync("mkdir -p ~/big ~/zeros && head -c 3000000 /dev/urandom > ~/big/r.bin && head -c 20000000 /dev/zero > ~/zeros/zero.bin && wc -c < ~/zeros/zero.bin");
        Assert.Equal("20000000\n", TerminalClient.Output(made));
        foreach (var path in new[] { "big", "zeros" })
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            // A cut download ends its connection; a new one for each keeps the next request off it.
            HttpResponseMessage response;
            var received = 0L;
            var failed = false;
            try
            {
                response = await PostArchiveAsync(user, [path], closeConnection: true);
            }
            catch (HttpRequestException)
            {
                // Cut so early that the reset overtook the headers: no archive at all, which is a cut too.
                TestContext.Current.TestOutputHelper?.WriteLine($"{path}: reset before the headers were read");
                continue;
            }
            using var _ = response;
            if (response.StatusCode == HttpStatusCode.RequestEntityTooLarge)
            {
                // Cut before the first chunk was sent (the zeros compressed to less than a chunk): a plain 413.
                Assert.Equal("zeros", path);
                failed = true;
            }
            else
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                try
                {
                    await using var body = await response.Content.ReadAsStreamAsync(Ct);
                    var buffer = new byte[65536];
                    int n;
                    while ((n = await body.ReadAsync(buffer, Ct)) > 0) received += n;
                }
                catch (Exception e) when (e is HttpRequestException or IOException)
                {
                    failed = true;
                }
            }
            Assert.True(failed, $"{path}: the download ended cleanly after {received} bytes; a cut archive must fail");
            Assert.True(received <= CappedArchiveServer.Cap, $"{path}: {received} bytes passed the {CappedArchiveServer.Cap}-byte cap");
            Assert.True(started.Elapsed < TimeSpan.FromSeconds(30), $"{path}: took {started.Elapsed}");
        }
        // The sandbox is still fine afterwards.
        Assert.Equal("ok\n", TerminalClient.Output(await user.RunAsync("echo ok")));
    }

    [Fact]
    public async Task Info_OperatorText_AsOpenTerminal_AndATool()
    {
        using var user = Terminal.For("info-user");
        var (status, body) = await user.GetAsync("info");
        Assert.Equal(200, status);
        Assert.Equal("GPU-less sandbox; datasets under ~/data.", body.GetProperty("info").GetString());
        using var document = await user.Http.GetAsync("openapi.json", Ct);
        var openApi = JsonDocument.Parse(await document.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal("get_info", openApi.GetProperty("paths").GetProperty("/info").GetProperty("get").GetProperty("operationId").GetString());
    }

    private static async Task<HttpResponseMessage> PostArchiveAsync(TerminalClient user, string[] paths, bool closeConnection = false)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "files/archive") { Content = Json.Body(new { paths }) };
        request.Headers.ConnectionClose = closeConnection;
        return await user.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
    }

    private static async Task<ZipArchive> ArchiveAsync(TerminalClient user, string path)
    {
        using var response = await PostArchiveAsync(user, [path]);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return new ZipArchive(new MemoryStream(await response.Content.ReadAsByteArrayAsync(Ct)));
    }
}
