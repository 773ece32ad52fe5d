namespace Warden.Server.Tests.OpenTerminal;

/// <summary>Traversal and symlink escapes on every file endpoint: refused with 403, nothing outside the home read or written.</summary>
public sealed class PathEscapeTests(SharedTerminalServer fixture) : IClassFixture<SharedTerminalServer>
{
    private TerminalTestServer Terminal => fixture.Server;

    public static TheoryData<string> EscapingPaths => new()
    {
        "../../../etc/passwd", "/etc/passwd", "/home/user/../../etc/passwd", "~/../../etc/passwd", "link-out/passwd", "link-root/etc/passwd", "file-link",
    };

    private async Task<TerminalClient> UserWithLinksAsync()
    {
        var user = Terminal.For("mallory", chatId: null);
        await user.RunAsync("ln -sfn /etc link-out; ln -sfn / link-root; ln -sf /etc/passwd file-link; mkdir -p inside");
        return user;
    }

    [Theory]
    [MemberData(nameof(EscapingPaths))]
    public async Task ReadEndpoints_RefuseEscapes(string path)
    {
        using var user = await UserWithLinksAsync();
        var p = Uri.EscapeDataString(path);
        foreach (var url in new[] { $"files/read?path={p}", $"files/view?path={p}", $"files/display?path={p}", $"files/list?directory={p}",
                     $"files/grep?query=root&path={p}", $"files/glob?pattern=*&path={p}" })
        {
            var (status, body) = await user.GetAsync(url);
            // list/glob on a file path may say 404 for a non-directory, but never 200 with the host's content.
            Assert.True(status is 403 or 404, $"{url} returned {status}: {body}");
            Assert.DoesNotContain("root:x:0:0", body.ToString(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(EscapingPaths))]
    public async Task WriteEndpoints_RefuseEscapes(string path)
    {
        using var user = await UserWithLinksAsync();
        Assert.Equal(403, (await user.PostAsync("files/write", new { path, content = "pwned" })).Status);
        Assert.Equal(403, (await user.PostAsync("files/replace", new { path, replacements = new[] { new { target = "root", replacement = "pwned" } } })).Status);
        Assert.Equal(403, (await user.PostAsync("files/mkdir", new { path = path + "/sub" })).Status);
        Assert.Equal(403, (await user.PostAsync("files/move", new { source = "inside", destination = path + "/moved" })).Status);
        Assert.Equal(403, (await user.PostAsync("files/cwd", new { path = "/etc" })).Status);
    }

    [Fact]
    public async Task Delete_OfALink_RemovesTheLinkNotItsTarget_AndParentEscapesAreRefused()
    {
        using var user = await UserWithLinksAsync();
        Assert.Equal(403, (await user.SendAsync(HttpMethod.Delete, "files/delete?path=" + Uri.EscapeDataString("link-out/passwd"))).Status);
        Assert.Equal(403, (await user.SendAsync(HttpMethod.Delete, "files/delete?path=" + Uri.EscapeDataString("../.."))).Status);
        Assert.Equal(403, (await user.SendAsync(HttpMethod.Delete, "files/delete?path=" + Uri.EscapeDataString("/home/user"))).Status);
        var (status, _) = await user.SendAsync(HttpMethod.Delete, "files/delete?path=file-link");
        Assert.Equal(200, status);
        Assert.True(File.Exists("/etc/passwd"));
        await user.RunAsync("ln -sf /etc/passwd file-link");
    }

    [Fact]
    public async Task Upload_WithTraversalInFileName_StaysInTheTargetDirectory()
    {
        using var user = await UserWithLinksAsync();
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent("data"u8.ToArray()), "file", "../../../../tmp/escaped.txt");
        using var response = await user.Http.PostAsync("files/upload?directory=inside", form, TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Contains("/home/user/inside/escaped.txt", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        using var outside = new MultipartFormDataContent();
        outside.Add(new ByteArrayContent("data"u8.ToArray()), "file", "x.txt");
        using var refused = await user.Http.PostAsync("files/upload?directory=link-out", outside, TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        Assert.Equal(403, (int)refused.StatusCode);
    }

    [Fact]
    public async Task GrepAndGlob_DoNotFollowLinksOutOfTheHome()
    {
        using var user = await UserWithLinksAsync();
        var (_, grep) = await user.GetAsync("files/grep?query=root:x:0&path=.");
        Assert.Empty(grep.GetProperty("matches").EnumerateArray());
        var (_, glob) = await user.GetAsync("files/glob?pattern=passwd&path=.");
        Assert.Empty(glob.GetProperty("matches").EnumerateArray());
    }

    [Fact]
    public async Task RunCommand_CwdOutsideHome_IsRefused()
    {
        using var user = await UserWithLinksAsync();
        var (status, _) = await user.PostAsync("execute?wait=5", new { command = "cat passwd", cwd = "/etc" });
        Assert.Equal(403, status);
        var (linkStatus, _) = await user.PostAsync("execute?wait=5", new { command = "cat passwd", cwd = "link-out" });
        Assert.Equal(403, linkStatus);
    }
}
