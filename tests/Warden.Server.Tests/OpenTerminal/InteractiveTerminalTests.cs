using System.Globalization;
using System.Net.WebSockets;
using System.Text.Json;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>
/// Interactive terminals (<c>/terminal/api/terminals</c> and its WebSocket) with open-terminal 0.11.34's shapes, and the
/// attacks on them: another user's or chat's terminal, a bad first frame, processes left behind by a closed terminal.
/// </summary>
public sealed class InteractiveTerminalTests(SharedTerminalServer fixture) : IClassFixture<SharedTerminalServer>
{
    private TerminalTestServer Terminal => fixture.Server;

    internal static async Task<string> CreateAsync(TerminalClient client, object? body = null)
    {
        var (status, created) = await client.SendAsync(HttpMethod.Post, "api/terminals", body);
        Assert.True(status == 200, $"POST /api/terminals answered {status}: {created}");
        return created.GetProperty("id").GetString()!;
    }

    /// <summary>How many live processes of the user's sandbox have <paramref name="marker"/> in their command line (seen from a command of theirs).</summary>
    internal static async Task<int> CountProcessesAsync(TerminalClient client, string marker)
    {
        // The last character goes in brackets so the scanning command never matches itself.
        var pattern = marker[..^1] + "[" + marker[^1] + "]";
        var result = await client.RunAsync($"for p in /proc/[0-9]*; do [ \"$(cut -d' ' -f3 $p/stat 2>/dev/null)\" = Z ] && continue; " +
            $"tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c '{pattern}'");
        return int.Parse(TerminalClient.Stdout(result).Trim(), CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task CreateListGetDelete_HaveOpenTerminalsShapes()
    {
        using var alice = Terminal.For("alice-shapes", chatId: "chat-1");
        var (status, created) = await alice.SendAsync(HttpMethod.Post, "api/terminals");
        Assert.Equal(200, status);
        var id = created.GetProperty("id").GetString()!;
        Assert.Equal(["id", "created_at", "pid"], created.EnumerateObject().Select(p => p.Name));
        Assert.EndsWith("Z", created.GetProperty("created_at").GetString(), StringComparison.Ordinal);
        Assert.True(DateTimeOffset.TryParse(created.GetProperty("created_at").GetString(), CultureInfo.InvariantCulture, out _));
        Assert.True(created.GetProperty("pid").GetInt32() > 0);

        var (listStatus, list) = await alice.GetAsync("api/terminals");
        Assert.Equal(200, listStatus);
        Assert.Equal(id, Assert.Single(list.EnumerateArray()).GetProperty("id").GetString());
        var (getStatus, got) = await alice.GetAsync($"api/terminals/{id}");
        Assert.Equal(200, getStatus);
        Assert.Equal(created.ToString(), got.ToString());

        var (deleteStatus, deleted) = await alice.SendAsync(HttpMethod.Delete, $"api/terminals/{id}");
        Assert.Equal(200, deleteStatus);
        Assert.Equal("""{"status":"deleted"}""", deleted.ToString());
        var (goneStatus, gone) = await alice.GetAsync($"api/terminals/{id}");
        Assert.Equal(404, goneStatus);
        Assert.Equal("""{"error":"Session not found"}""", gone.ToString());
        var (againStatus, again) = await alice.SendAsync(HttpMethod.Delete, $"api/terminals/{id}");
        Assert.Equal(404, againStatus);
        Assert.Equal("""{"error":"Session not found"}""", again.ToString());
        var (_, empty) = await alice.GetAsync("api/terminals");
        Assert.Empty(empty.EnumerateArray());
    }

    [Fact]
    public async Task Shell_TypesAndResizes_AsTheUserInTheChatsDirectory()
    {
        using var alice = Terminal.For("alice-shell", chatId: "chat-pty");
        var id = await CreateAsync(alice);
        await using var socket = await TerminalSocketClient.AttachAsync(Terminal, id, "alice-shell");
        await socket.ResizeAsync(101, 37);
        await socket.SendKeysAsync("echo $((6*7))-answer; stty size; pwd; echo $TERM; tty; echo made > ~/from-pty.txt; echo done-$((2+3))\r");
        var screen = await socket.ReadUntilAsync("done-5");
        Assert.Contains("42-answer", screen, StringComparison.Ordinal);
        Assert.Contains("37 101", screen, StringComparison.Ordinal);
        Assert.Contains("/home/user/chats/chat-pty", screen, StringComparison.Ordinal);
        Assert.Contains("xterm-256color", screen, StringComparison.Ordinal);
        Assert.Contains("/dev/pts/", screen, StringComparison.Ordinal);
        // The file the shell wrote is the user's own, under their host uid, in their home: the PTY is in their sandbox.
        var file = Path.Combine(Terminal.HostHome("alice-shell"), "from-pty.txt");
        Assert.Equal("made\n", await File.ReadAllTextAsync(file, TestContext.Current.CancellationToken));
        var uid = TestStat.Uid(file);
        Assert.Equal(Terminal.UidOf("alice-shell"), uid.ToString(CultureInfo.InvariantCulture));
        // The same identity as the user's commands have.
        var expected = TerminalClient.Stdout(await alice.RunAsync("echo ids-$(id -u)-$(id -g)-end")).Trim();
        Assert.Matches("^ids-[0-9]+-[0-9]+-end$", expected);
        await socket.SendKeysAsync("echo ids-$(id -u)-$(id -g)-end\r");
        await socket.ReadUntilAsync(expected);
    }

    [Fact]
    public async Task AnotherUser_CannotListGetDeleteOrAttach()
    {
        using var alice = Terminal.For("alice-cross", chatId: "shared-chat");
        using var bob = Terminal.For("bob-cross", chatId: "shared-chat");
        var id = await CreateAsync(alice);
        await CreateAsync(bob);

        var (_, bobList) = await bob.GetAsync("api/terminals");
        Assert.DoesNotContain(id, bobList.ToString(), StringComparison.Ordinal);
        var (getStatus, get) = await bob.GetAsync($"api/terminals/{id}");
        Assert.Equal(404, getStatus);
        Assert.Equal("""{"error":"Session not found"}""", get.ToString());
        var (deleteStatus, _) = await bob.SendAsync(HttpMethod.Delete, $"api/terminals/{id}");
        Assert.Equal(404, deleteStatus);

        // Attaching as bob: by ?user_id= (Open WebUI's proxy), by header, and with a chat id in the auth frame.
        foreach (var (query, header) in new[] { ("bob-cross", (string?)null), (null, "bob-cross"), ("bob-cross", "bob-cross") })
        {
            await using var socket = await TerminalSocketClient.ConnectAsync(Terminal, id, query, userHeader: header);
            await socket.SendTextAsync(JsonSerializer.Serialize(new { type = "auth", token = TerminalTestServer.ApiKey }));
            await socket.SendKeysAsync("touch /home/user/bob-was-here\r");
            Assert.Equal((4004, "Session not found"), await socket.ClosedAsync());
        }
        // No user at all cannot find it either.
        await using (var anonymous = await TerminalSocketClient.ConnectAsync(Terminal, id, userQuery: null))
        {
            await anonymous.SendTextAsync(JsonSerializer.Serialize(new { type = "auth", token = TerminalTestServer.ApiKey }));
            Assert.Equal((4004, "Session not found"), await anonymous.ClosedAsync());
        }

        // Alice's terminal is untouched and still hers.
        await using var own = await TerminalSocketClient.AttachAsync(Terminal, id, "alice-cross");
        await own.SendKeysAsync("ls /home/user; echo listed-$((40+2))\r");
        var screen = await own.ReadUntilAsync("listed-42");
        Assert.DoesNotContain("bob-was-here", screen, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnotherChat_DoesNotSeeTheTerminal()
    {
        using var chat1 = Terminal.For("alice-chats", chatId: "chat-one");
        using var chat2 = Terminal.For("alice-chats", chatId: "chat-two");
        var id = await CreateAsync(chat1);
        var (_, list2) = await chat2.GetAsync("api/terminals");
        Assert.Empty(list2.EnumerateArray());
        Assert.Equal(404, (await chat2.GetAsync($"api/terminals/{id}")).Status);
        Assert.Equal(404, (await chat2.SendAsync(HttpMethod.Delete, $"api/terminals/{id}")).Status);
        // An attach naming the other chat (header, or the auth frame's chat_id as newer Open WebUI sends) is refused.
        await using (var byHeader = await TerminalSocketClient.ConnectAsync(Terminal, id, "alice-chats", chatHeader: "chat-two"))
        {
            await byHeader.SendTextAsync(JsonSerializer.Serialize(new { type = "auth", token = TerminalTestServer.ApiKey }));
            Assert.Equal((4004, "Session not found"), await byHeader.ClosedAsync());
        }
        await using (var byFrame = await TerminalSocketClient.AttachAsync(Terminal, id, "alice-chats", chatId: "chat-two"))
            Assert.Equal((4004, "Session not found"), await byFrame.ClosedAsync());
        var (_, list1) = await chat1.GetAsync("api/terminals");
        Assert.Equal(id, Assert.Single(list1.EnumerateArray()).GetProperty("id").GetString());
        // The creating chat, named, attaches.
        await using var own = await TerminalSocketClient.AttachAsync(Terminal, id, "alice-chats", chatId: "chat-one");
        await own.SendKeysAsync("echo chat-$((1+1))-ok\r");
        await own.ReadUntilAsync("chat-2-ok");
    }

    public static TheoryData<string> BadFirstFrames => new()
    {
        "wrong-token", "binary-first", "not-json", "not-auth", "token-not-string", "empty-token",
    };

    [Theory]
    [MemberData(nameof(BadFirstFrames))]
    public async Task BadFirstFrame_Closes4001_AndNothingReachesTheShell(string kind)
    {
        using var alice = Terminal.For($"alice-auth-{kind}", chatId: "chat-1");
        var id = await CreateAsync(alice);
        var marker = $"/home/user/pwned-{kind}";
        await using (var socket = await TerminalSocketClient.ConnectAsync(Terminal, id, $"alice-auth-{kind}"))
        {
            switch (kind)
            {
                case "wrong-token": await socket.SendTextAsync("""{"type":"auth","token":"not-the-key"}"""); break;
                case "binary-first": await socket.SendKeysAsync($"touch {marker}\r"); break;
                case "not-json": await socket.SendTextAsync("{\"type\":\"auth\",\"token\":"); break;
                case "not-auth": await socket.SendTextAsync($$"""{"type":"resize","cols":10,"rows":10,"token":"{{TerminalTestServer.ApiKey}}"}"""); break;
                case "token-not-string": await socket.SendTextAsync("""{"type":"auth","token":12345}"""); break;
                default: await socket.SendTextAsync("""{"type":"auth","token":""}"""); break;
            }
            try { await socket.SendKeysAsync($"touch {marker}\r"); } catch (WebSocketException) { }
            var (code, reason) = await socket.ClosedAsync();
            Assert.Equal(4001, code);
            Assert.Equal(kind is "binary-first" or "not-json" ? "Auth timeout or invalid payload" : "Invalid API key", reason);
            Assert.DoesNotContain("$", socket.Screen, StringComparison.Ordinal);
        }
        // The terminal is still there for its owner, and nothing of the refused connection was typed into it.
        await using var own = await TerminalSocketClient.AttachAsync(Terminal, id, $"alice-auth-{kind}");
        await own.SendKeysAsync("ls /home/user; echo checked-$((3*3))\r");
        var screen = await own.ReadUntilAsync("checked-9");
        Assert.DoesNotContain("pwned", screen, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Terminal.HostHome($"alice-auth-{kind}"), $"pwned-{kind}")));
    }

    [Fact]
    public async Task NoFirstFrame_Closes4001AfterTenSeconds()
    {
        using var alice = Terminal.For("alice-silent", chatId: "chat-1");
        var id = await CreateAsync(alice);
        await using var socket = await TerminalSocketClient.ConnectAsync(Terminal, id, "alice-silent");
        var started = DateTime.UtcNow;
        Assert.Equal((4001, "Auth timeout or invalid payload"), await socket.ClosedAsync(seconds: 30));
        Assert.InRange((DateTime.UtcNow - started).TotalSeconds, 8, 25);
    }

    [Fact]
    public async Task SecondAttach_Closes4009()
    {
        using var alice = Terminal.For("alice-twice", chatId: "chat-1");
        var id = await CreateAsync(alice);
        await using var first = await TerminalSocketClient.AttachAsync(Terminal, id, "alice-twice");
        await first.SendKeysAsync("echo first-$((5+5))\r");
        await first.ReadUntilAsync("first-10");
        await using var second = await TerminalSocketClient.AttachAsync(Terminal, id, "alice-twice");
        Assert.Equal((4009, "Session already connected"), await second.ClosedAsync());
        await first.SendKeysAsync("echo still-$((5+6))\r");
        await first.ReadUntilAsync("still-11");
    }

    [Theory]
    [InlineData("delete")]
    [InlineData("disconnect")]
    [InlineData("exit")]
    public async Task ClosedTerminal_LeavesNoProcessBehind(string how)
    {
        var user = $"alice-leak-{how}";
        using var alice = Terminal.For(user, chatId: "chat-1");
        var id = await CreateAsync(alice);
        var marker = how switch { "delete" => "sleep 4242", "disconnect" => "sleep 4343", _ => "sleep 4444" };
        await using var socket = await TerminalSocketClient.AttachAsync(Terminal, id, user);
        // A job-control background job (its own process group), an orphan of a subshell, a nohup'ed job, and one in the foreground.
        await socket.SendKeysAsync($"{marker}1 & ({marker}2 &) ; nohup {marker}3 >/dev/null 2>&1 & echo started-$((7*6))\r");
        await socket.ReadUntilAsync("started-42");
        Assert.Equal(3, await CountProcessesAsync(alice, marker));
        switch (how)
        {
            case "delete":
                await socket.SendKeysAsync($"{marker}4\r");
                await Task.Delay(300, TestContext.Current.CancellationToken);
                Assert.Equal(200, (await alice.SendAsync(HttpMethod.Delete, $"api/terminals/{id}")).Status);
                Assert.Equal((1000, "Session has ended"), await socket.ClosedAsync());
                break;
            case "disconnect":
                await socket.CloseAsync();
                await socket.ClosedAsync();
                break;
            default:
                await socket.SendKeysAsync("exit\r");
                Assert.Equal((1000, "Session has ended"), await socket.ClosedAsync());
                break;
        }
        // DELETE answers once the session is killed; a disconnect closes the terminal right after the socket.
        for (int i = 0; i < 50 && (await alice.GetAsync($"api/terminals/{id}")).Status != 404; i++) await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.Equal(404, (await alice.GetAsync($"api/terminals/{id}")).Status);
        Assert.Equal(0, await CountProcessesAsync(alice, marker));
    }

    [Fact]
    public async Task SlowReader_StallsTheShell_InsteadOfGrowingMemory()
    {
        using var alice = Terminal.For("alice-slow", chatId: "chat-1");
        var id = await CreateAsync(alice);
        await using var socket = await TerminalSocketClient.AttachAsync(Terminal, id, "alice-slow");
        await socket.SendKeysAsync("echo go-$((1+1))\r");
        await socket.ReadUntilAsync("go-2");
        // 32 MB of output to a client that reads nothing: far more than the window and the sockets' buffers hold.
        await socket.SendKeysAsync("yes slowreader-line | head -c 32000000; echo finished-$((20+3))\r");
        await Task.Delay(TimeSpan.FromSeconds(6), TestContext.Current.CancellationToken);
        // On the host kernel's PTY (bwrap, Docker) the writer is held by back-pressure: still running, neither finished
        // nor its output dropped. gVisor's PTY never blocks a writer (its queue grows inside the Sentry, charged to the
        // user's sandbox cgroup until its memory limit: docs/open-terminal.md), so there only the agent and the host stay
        // bounded, and what this test can hold it to is that every line still arrives.
        int writers = await CountProcessesAsync(alice, "head -c 32000000");
        if (TestBackend.Name != "gvisor") Assert.Equal(1, writers);
        // Reading resumes the flow and everything arrives: the line count is whole (16 bytes a line). Whole output lines
        // only ("\r\n" from the PTY's ONLCR): the echoed command is echoed twice when the keys beat readline's start.
        var lines = await socket.CountUntilAsync("slowreader-line\r\n", "finished-23", seconds: 300);
        Assert.Equal(32000000 / 16, lines);
    }
}

/// <summary>The owner of a host file, by lstat.</summary>
internal static class TestStat
{
    public static uint Uid(string path)
    {
        var output = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u", path]) { RedirectStandardOutput = true })!;
        var text = output.StandardOutput.ReadToEnd();
        output.WaitForExit();
        return uint.Parse(text.Trim(), CultureInfo.InvariantCulture);
    }
}
