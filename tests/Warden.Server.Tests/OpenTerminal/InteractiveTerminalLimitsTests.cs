using System.Text;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>
/// What bounds and shapes an interactive terminal at creation: the per-user cap, the optional body (cwd inside the home
/// only, a sane size), and the <c>Warden:Terminal:Interactive</c> switch that /api/config reports to Open WebUI.
/// </summary>
public sealed class InteractiveTerminalLimitsTests(SharedTerminalServer fixture) : IClassFixture<SharedTerminalServer>
{
    private TerminalTestServer Terminal => fixture.Server;

    [Fact]
    public async Task Create_TakesCwdAndSize_AndRefusesDirectoriesOutsideTheHome()
    {
        using var alice = Terminal.For("alice-body", chatId: "chat-1");
        var id = await InteractiveTerminalTests.CreateAsync(alice, new { cwd = "/home/user", cols = 100, rows = 30 });
        await using (var socket = await TerminalSocketClient.AttachAsync(Terminal, id, "alice-body"))
        {
            await socket.SendKeysAsync("echo \"cwd=$(pwd)=size=$(stty size)=\"\r");
            await socket.ReadUntilAsync("cwd=/home/user=size=30 100=");
        }

        var (outside, outsideBody) = await alice.PostAsync("api/terminals", new { cwd = "/etc" });
        Assert.Equal(403, outside);
        Assert.True(outsideBody.TryGetProperty("error", out _), outsideBody.ToString());
        var (escape, _) = await alice.PostAsync("api/terminals", new { cwd = "/home/user/../../etc" });
        Assert.Equal(403, escape);
        var (missing, missingBody) = await alice.PostAsync("api/terminals", new { cwd = "/home/user/no-such-directory" });
        Assert.Equal(404, missing);
        Assert.True(missingBody.TryGetProperty("error", out _), missingBody.ToString());
        Assert.Equal(422, (await alice.PostAsync("api/terminals", new { cols = 0 })).Status);
        Assert.Equal(422, (await alice.PostAsync("api/terminals", new { rows = 5000 })).Status);
        using var broken = new StringContent("{\"cwd\": ", Encoding.UTF8, "application/json");
        using var response = await alice.Http.PostAsync("api/terminals", broken, TestContext.Current.CancellationToken);
        Assert.Equal(422, (int)response.StatusCode); // FastAPI answers a body that does not parse with 422 json_invalid too
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);

        // None of the refused requests left a terminal behind: the first one was closed with its WebSocket.
        var (_, list) = await alice.GetAsync("api/terminals");
        Assert.Empty(list.EnumerateArray());
    }

    [Fact]
    public async Task PerUserCap_Answers429_AndLeavesOtherUsersAlone()
    {
        using var alice = Terminal.For("alice-cap", chatId: "chat-1");
        using var aliceOtherChat = Terminal.For("alice-cap", chatId: "chat-2");
        using var bob = Terminal.For("bob-cap", chatId: "chat-1");
        var ids = new List<string>();
        for (int i = 0; i < 3; i++) ids.Add(await InteractiveTerminalTests.CreateAsync(alice));
        ids.Add(await InteractiveTerminalTests.CreateAsync(aliceOtherChat)); // the cap is the user's, across chats
        var (status, body) = await alice.SendAsync(HttpMethod.Post, "api/terminals");
        Assert.Equal(429, status);
        Assert.Equal("""{"error":"Maximum number of terminal sessions (4) reached"}""", body.ToString());

        var bobs = await InteractiveTerminalTests.CreateAsync(bob);
        Assert.Equal(200, (await bob.SendAsync(HttpMethod.Delete, $"api/terminals/{bobs}")).Status);

        Assert.Equal(200, (await alice.SendAsync(HttpMethod.Delete, $"api/terminals/{ids[0]}")).Status);
        ids[0] = await InteractiveTerminalTests.CreateAsync(alice);
        foreach (var id in ids[..3]) Assert.Equal(200, (await alice.SendAsync(HttpMethod.Delete, $"api/terminals/{id}")).Status);
        Assert.Equal(200, (await aliceOtherChat.SendAsync(HttpMethod.Delete, $"api/terminals/{ids[3]}")).Status);
        Assert.Equal(0, await InteractiveTerminalTests.CountProcessesAsync(alice, "bash -l"));
    }

    [Fact]
    public async Task SandboxGone_EndsItsTerminals()
    {
        using var alice = Terminal.For("alice-gone", chatId: "chat-1");
        var id = await InteractiveTerminalTests.CreateAsync(alice);
        await using var socket = await TerminalSocketClient.AttachAsync(Terminal, id, "alice-gone");
        await socket.SendKeysAsync("echo ready-$((1+2))\r");
        await socket.ReadUntilAsync("ready-3");
        // The user kills everything they can in their sandbox, the agent included: the sandbox is lost.
        await alice.PostAsync("execute?wait=5", new { command = "kill -9 -1" });
        Assert.Equal((1000, "Session has ended"), await socket.ClosedAsync());
        Assert.Equal(404, (await alice.GetAsync($"api/terminals/{id}")).Status);
        // The next request starts a new sandbox, and a new terminal in it works.
        var fresh = await InteractiveTerminalTests.CreateAsync(alice);
        await using var again = await TerminalSocketClient.AttachAsync(Terminal, fresh, "alice-gone");
        await again.SendKeysAsync("echo again-$((2+2))\r");
        await again.ReadUntilAsync("again-4");
    }

    [Fact]
    public async Task Config_ReportsTheSwitch_AndOffRemovesTheRoutes()
    {
        using var anyone = Terminal.For("", chatId: null, bearer: null);
        var (_, on) = await anyone.GetAsync("api/config");
        Assert.True(on.GetProperty("features").GetProperty("terminal").GetBoolean());

        await using var off = await TerminalTestServer.StartAsync(new() { ["Warden:Terminal:Interactive"] = "false" });
        using var anonymous = off.For("", chatId: null, bearer: null);
        var (_, config) = await anonymous.GetAsync("api/config");
        Assert.False(config.GetProperty("features").GetProperty("terminal").GetBoolean());
        using var alice = off.For("alice-off");
        Assert.Equal(404, (await alice.SendAsync(HttpMethod.Post, "api/terminals")).Status);
        Assert.Equal(404, (await alice.GetAsync("api/terminals")).Status);
    }
}
