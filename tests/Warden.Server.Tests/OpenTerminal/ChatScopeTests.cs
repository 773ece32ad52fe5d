namespace Warden.Server.Tests.OpenTerminal;

/// <summary>
/// What X-Session-Id scopes, as open-terminal does: the LLM's file routes and commands resolve relative paths against the
/// chat's working directory, the UI's file browser against the home; a directory a chat set is forgotten after the TTL
/// without use (sliding), the chat then back in its own directory.
/// </summary>
public sealed class ChatScopeTests
{
    [Fact]
    public async Task UiFileRoutes_ResolveAgainstTheHome_LlmRoutesAgainstTheChatDirectory()
    {
        await using var terminal = await TerminalTestServer.StartAsync();
        using var chat = terminal.For("scope-ui", chatId: "chat-1");
        await chat.RunAsync("mkdir -p /home/user/proj");
        Assert.Equal(200, (await chat.PostAsync("files/cwd", new { path = "/home/user/proj" })).Status);

        Assert.Equal(200, (await chat.PostAsync("files/write", new { path = "llm.txt", content = "from the model" })).Status);
        Assert.Equal(200, (await chat.PostAsync("files/mkdir", new { path = "ui-dir" })).Status);
        Assert.Equal(200, (await chat.PostAsync("files/write", new { path = "moved-by-ui.txt", content = "x" })).Status);
        Assert.Equal(200, (await chat.PostAsync("files/move", new { source = "proj/moved-by-ui.txt", destination = "ui-dir/moved.txt" })).Status);
        using (var form = new MultipartFormDataContent())
        {
            form.Add(new ByteArrayContent("up"u8.ToArray()), "file", "up.txt");
            using var uploaded = await chat.Http.PostAsync("files/upload?directory=ui-dir", form, TestContext.Current.CancellationToken);
            Assert.Equal(200, (int)uploaded.StatusCode);
        }
        using (var viewed = await chat.Http.GetAsync("files/view?path=ui-dir/up.txt", TestContext.Current.CancellationToken))
        {
            Assert.Equal(200, (int)viewed.StatusCode);
            Assert.Equal("up", await viewed.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }

        var listing = TerminalClient.Stdout(await chat.RunAsync("cd /home/user && find proj ui-dir -type f | sort"));
        Assert.Equal("proj/llm.txt\nui-dir/moved.txt\nui-dir/up.txt\n", listing);
        Assert.Equal(200, (await chat.SendAsync(HttpMethod.Delete, "files/delete?path=ui-dir")).Status);
        Assert.Equal("gone", TerminalClient.Stdout(await chat.RunAsync("test -e /home/user/ui-dir && echo there || echo gone")).Trim());
    }

    [Fact]
    public async Task ChatDirectory_ExpiresAfterTheTtlWithoutUse_AndUseSlidesIt()
    {
        await using var terminal = await TerminalTestServer.StartAsync(new() { ["Warden:Terminal:SessionCwdTtlSeconds"] = "3" });
        using var chat = terminal.For("scope-ttl", chatId: "chat-ttl");
        using var other = terminal.For("scope-ttl", chatId: "chat-other");
        await chat.RunAsync("mkdir -p /home/user/proj");
        Assert.Equal(200, (await chat.PostAsync("files/cwd", new { path = "/home/user/proj" })).Status);
        async Task<string> CwdAsync(TerminalClient client) => (await client.GetAsync("files/cwd")).Body.GetProperty("cwd").GetString()!;

        // Used every 2 s for 6 s in all: past the 3 s TTL from the set, kept because each use slides it.
        for (int i = 0; i < 3; i++)
        {
            await Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
            Assert.Equal("/home/user/proj", await CwdAsync(chat));
        }
        Assert.Equal("/home/user/chats/chat-other", await CwdAsync(other));

        await Task.Delay(TimeSpan.FromSeconds(4), TestContext.Current.CancellationToken);
        Assert.Equal("/home/user/chats/chat-ttl", await CwdAsync(chat));
        Assert.Equal("/home/user/chats/chat-ttl", TerminalClient.Stdout(await chat.RunAsync("pwd")).Trim());
    }
}
