namespace Warden.Server.Tests.OpenTerminal;

public sealed class RunCommandTests(SharedTerminalServer fixture) : IClassFixture<SharedTerminalServer>
{
    private TerminalTestServer Terminal => fixture.Server;

    [Fact]
    public async Task RunCommand_WithWait_ReturnsOutputAndExitCode()
    {
        using var alice = Terminal.For("alice-run");
        var result = await alice.RunAsync("echo hello; echo oops >&2; exit 3");
        Assert.Equal("done", result.GetProperty("status").GetString());
        Assert.Equal(3, result.GetProperty("exit_code").GetInt32());
        Assert.Contains("hello", TerminalClient.Stdout(result));
        Assert.Contains(result.GetProperty("output").EnumerateArray(), e => e.GetProperty("type").GetString() == "stderr" && e.GetProperty("data").GetString()!.Contains("oops"));
        Assert.True(result.GetProperty("next_offset").GetInt32() >= 2);
    }

    [Fact]
    public async Task ManyFinishedCommands_DoNotExhaustTheAgentsDescriptors()
    {
        // Each command's log is kept for minutes; its pipes must not be. The agent runs under the sandbox's
        // RLIMIT_NOFILE (256): with pipes held per finished command, a busy chat soon failed with EMFILE (260 > 256 even at one a command).
        using var alice = Terminal.For("alice-many", chatId: "chat-many");
        for (var i = 0; i < 260; i++)
        {
            var result = await alice.RunAsync($"echo run-{i}");
            Assert.Equal("done", result.GetProperty("status").GetString());
            Assert.Contains($"run-{i}", TerminalClient.Stdout(result));
        }
    }

    [Fact]
    public async Task RunCommand_RunsAsUnprivilegedUserInPerChatDirectoryOfHome()
    {
        using var alice = Terminal.For("alice-env", chatId: "chat-env");
        var result = await alice.RunAsync("id -u; pwd; echo $HOME; ls -ld /home/user | cut -c1-10");
        var lines = TerminalClient.Stdout(result).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // bwrap maps the user's host uid to 1000 inside its user namespace; a docker container (no userns remapping) and
        // gVisor (this runsc cannot map ids) run as the user's own host uid, the one that owns the home. Either way one
        // uid that only this user has.
        Assert.Equal(TestBackend.Name switch
        {
            "docker" => OwnerOf(Terminal.HostHome("alice-env")),
            "gvisor" => Terminal.UidOf("alice-env"),
            _ => "1000",
        }, lines[0]);
        Assert.NotEqual("0", lines[0]);
        Assert.Equal("/home/user/chats/chat-env", lines[1]);
        Assert.Equal("/home/user", lines[2]);
        var (status, cwd) = await alice.GetAsync("files/cwd");
        Assert.Equal(200, status);
        Assert.Equal("/home/user/chats/chat-env", cwd.GetProperty("cwd").GetString());
        Assert.Equal("/home/user", cwd.GetProperty("home").GetString());
    }

    [Fact]
    public async Task BackgroundProcess_Lifecycle_InputStatusListKill()
    {
        using var alice = Terminal.For("alice-bg", chatId: "chat-bg");
        var (status, started) = await alice.PostAsync("execute", new { command = "read line; echo got:$line; sleep 60" });
        Assert.Equal(200, status);
        Assert.Equal("running", started.GetProperty("status").GetString());
        var id = started.GetProperty("id").GetString()!;

        var (_, list) = await alice.GetAsync("execute");
        Assert.Contains(list.EnumerateArray(), p => p.GetProperty("id").GetString() == id && p.GetProperty("status").GetString() == "running");

        var (inputStatus, _) = await alice.PostAsync($"execute/{id}/input", new { input = "world\\n" });
        Assert.Equal(200, inputStatus);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        string output = "";
        while (DateTime.UtcNow < deadline && !output.Contains("got:world"))
        {
            var (_, polled) = await alice.GetAsync($"execute/{id}/status?wait=1");
            output = TerminalClient.Output(polled);
        }
        Assert.Contains("got:world", output);

        var (offsetStatus, tailOnly) = await alice.GetAsync($"execute/{id}/status?offset=1000");
        Assert.Equal(200, offsetStatus);
        Assert.Empty(tailOnly.GetProperty("output").EnumerateArray());

        var (killStatus, killed) = await alice.SendAsync(HttpMethod.Delete, $"execute/{id}");
        Assert.Equal(200, killStatus);
        Assert.Equal("killed", killed.GetProperty("status").GetString());
        var (_, after) = await alice.GetAsync($"execute/{id}/status");
        Assert.Equal("killed", after.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Process_OfAnotherChat_IsNotVisible()
    {
        using var chat1 = Terminal.For("alice-chats", chatId: "one");
        using var chat2 = Terminal.For("alice-chats", chatId: "two");
        var (_, started) = await chat1.PostAsync("execute", new { command = "sleep 30" });
        var id = started.GetProperty("id").GetString()!;
        var (status, _) = await chat2.GetAsync($"execute/{id}/status");
        Assert.Equal(404, status);
        var (_, list) = await chat2.GetAsync("execute");
        Assert.DoesNotContain(list.EnumerateArray(), p => p.GetProperty("id").GetString() == id);
        await chat1.SendAsync(HttpMethod.Delete, $"execute/{id}?force=true");
    }

    [Fact]
    public async Task Tail_ReturnsOnlyTheLastEntries()
    {
        using var alice = Terminal.For("alice-tail");
        var (_, result) = await alice.PostAsync("execute?wait=20&tail=1", new { command = "for i in 1 2 3; do echo line$i; sleep 0.2; done" });
        var entries = result.GetProperty("output").EnumerateArray().ToList();
        Assert.Single(entries);
        Assert.Contains("line3", entries[0].GetProperty("data").GetString());
        Assert.True(result.GetProperty("truncated").GetBoolean());
    }

    [Fact]
    public async Task FileTools_WriteReadReplaceListGrepGlob()
    {
        using var alice = Terminal.For("alice-files", chatId: "files");
        var (w, written) = await alice.PostAsync("files/write", new { path = "src/app.py", content = "print('hi')\nx = 1\n" });
        Assert.Equal(200, w);
        Assert.Equal("/home/user/chats/files/src/app.py", written.GetProperty("path").GetString());

        var (r, read) = await alice.GetAsync("files/read?path=src/app.py&start_line=2");
        Assert.Equal(200, r);
        Assert.Equal(2, read.GetProperty("total_lines").GetInt32());
        Assert.Equal("x = 1\n", read.GetProperty("content").GetString());

        var (rp, _) = await alice.PostAsync("files/replace", new { path = "src/app.py", replacements = new[] { new { target = "x = 1", replacement = "x = 2" } } });
        Assert.Equal(200, rp);
        var (_, again) = await alice.GetAsync("files/read?path=/home/user/chats/files/src/app.py");
        Assert.Contains("x = 2", again.GetProperty("content").GetString());

        var (_, listing) = await alice.GetAsync("files/list?directory=src");
        Assert.Contains(listing.GetProperty("entries").EnumerateArray(), e => e.GetProperty("name").GetString() == "app.py");

        var (_, grep) = await alice.GetAsync("files/grep?query=x%20%3D%202&include=*.py");
        Assert.Single(grep.GetProperty("matches").EnumerateArray());

        var (_, glob) = await alice.GetAsync("files/glob?pattern=*.py");
        Assert.Contains(glob.GetProperty("matches").EnumerateArray(), m => m.GetProperty("path").GetString() == "src/app.py");

        var (d, display) = await alice.GetAsync("files/display?path=src/app.py");
        Assert.Equal(200, d);
        Assert.True(display.GetProperty("exists").GetBoolean());
    }

    [Fact]
    public async Task FilesWrittenByCode_AreViewableByTheirOwner()
    {
        using var alice = Terminal.For("alice-view", chatId: "view");
        await alice.RunAsync("printf 'PNGDATA' > out.bin");
        // The file browser's routes resolve relative paths against the home (as open-terminal's do), so the UI names it in full.
        using var response = await alice.Http.GetAsync("files/view?path=/home/user/chats/view/out.bin", TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("PNGDATA", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    /// <summary>The owning uid of a host path, as <c>stat</c> prints it.</summary>
    private static string OwnerOf(string path)
    {
        using var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u", path]) { RedirectStandardOutput = true })!;
        var owner = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        Assert.Equal(0, stat.ExitCode);
        return owner;
    }
}
