namespace Warden.Server.Tests.OpenTerminal;

/// <summary>safe-code-execution's quotas (reject and evict modes, per-execution file cap) and the per-user command limits.</summary>
public sealed class QuotaAndLimitTests
{
    [Fact]
    public async Task RejectMode_WriteOverFileQuota_IsAClearError()
    {
        await using var terminal = await TerminalTestServer.StartAsync(new() { ["Warden:Terminal:MaxFilesPerUser"] = "3" });
        using var user = terminal.For("quota-reject", chatId: null);
        for (int i = 0; i < 3; i++) Assert.Equal(200, (await user.PostAsync("files/write", new { path = $"f{i}.txt", content = "x" })).Status);
        var (status, problem) = await user.PostAsync("files/write", new { path = "f3.txt", content = "x" });
        Assert.Equal(507, status);
        Assert.Contains("Quota exceeded", problem.GetProperty("detail").GetString());
        // Overwriting an existing file adds no file: allowed.
        Assert.Equal(200, (await user.PostAsync("files/write", new { path = "f0.txt", content = "y" })).Status);
    }

    [Fact]
    public async Task EvictMode_WriteOverQuota_EvictsTheOldestFiles()
    {
        await using var terminal = await TerminalTestServer.StartAsync(new()
        {
            ["Warden:Terminal:MaxFilesPerUser"] = "3", ["Warden:Terminal:QuotaMode"] = "Evict",
        });
        using var user = terminal.For("quota-evict", chatId: null);
        await user.RunAsync("for i in 0 1 2; do echo $i > f$i.txt; touch -d \"$((10 - i)) minutes ago\" f$i.txt; done");
        Assert.Equal(200, (await user.PostAsync("files/write", new { path = "new.txt", content = "x" })).Status);
        var (_, list) = await user.GetAsync("files/list?directory=.");
        var names = list.GetProperty("entries").EnumerateArray().Select(e => e.GetProperty("name").GetString()).ToList();
        Assert.DoesNotContain("f0.txt", names);
        Assert.Contains("new.txt", names);
        Assert.Equal(3, names.Count);
    }

    [Fact]
    public async Task PerExecution_NewFilesBeyondTheCap_AreRemovedAndReported()
    {
        await using var terminal = await TerminalTestServer.StartAsync(new() { ["Warden:Terminal:MaxFilesPerExecution"] = "2" });
        using var user = terminal.For("quota-exec", chatId: null);
        var result = await user.RunAsync("mkdir -p out && for i in 1 2 3 4 5; do echo $i > out/$i; done");
        Assert.Contains("MaxFilesPerExecution", TerminalClient.Output(result));
        var (_, glob) = await user.GetAsync("files/glob?pattern=*&path=out&type=file");
        Assert.Equal(2, glob.GetProperty("matches").GetArrayLength());
    }

    [Fact]
    public async Task Limits_RunningCount_Runtime_AndLogSize()
    {
        await using var terminal = await TerminalTestServer.StartAsync(new()
        {
            ["Warden:Terminal:MaxRunningCommands"] = "2", ["Warden:Terminal:MaxCommandSeconds"] = "2", ["Warden:Terminal:MaxLogBytes"] = "8192",
        });
        using var user = terminal.For("limits");
        Assert.Equal(200, (await user.PostAsync("execute", new { command = "sleep 30" })).Status);
        Assert.Equal(200, (await user.PostAsync("execute", new { command = "sleep 30" })).Status);
        Assert.Equal(429, (await user.PostAsync("execute", new { command = "echo third" })).Status);

        // Both sleeps are killed at the 2 s runtime limit; then a command fits again.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline && (await user.GetAsync("execute")).Body.EnumerateArray().Any(p => p.GetProperty("status").GetString() == "running"))
            await Task.Delay(250, TestContext.Current.CancellationToken);
        var (_, list) = await user.GetAsync("execute");
        Assert.All(list.EnumerateArray(), p => Assert.Equal("killed", p.GetProperty("status").GetString()));
        var slow = await user.RunAsync("sleep 10", wait: 20);
        Assert.Equal("killed", slow.GetProperty("status").GetString());
        Assert.Contains("longer than 2 s", TerminalClient.Output(slow));

        var noisy = await user.RunAsync("head -c 100000 /dev/zero | tr '\\0' 'a' | fold -w 100", wait: 20);
        Assert.True(noisy.GetProperty("truncated").GetBoolean() || TerminalClient.Output(noisy).Length <= 8192 + 65536);
        Assert.True(TerminalClient.Output(noisy).Length < 100000);
    }
}
