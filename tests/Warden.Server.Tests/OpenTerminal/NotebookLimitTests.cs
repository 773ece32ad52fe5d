using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Terminals;

namespace Warden.Server.Tests.OpenTerminal;

/// <summary>Notebook kernels are bounded: a runaway cell is interrupted (or its kernel killed), sessions per user are
/// capped, the switch turns the routes off, and no kernel outlives its user's sandbox.</summary>
public sealed class NotebookLimitTests
{
    [Fact]
    public async Task RunawayCells_AreInterrupted_OrTheirKernelKilled_AndTheCapHolds()
    {
        await using var terminal = await TerminalTestServer.StartAsync(new()
        {
            ["Warden:Terminal:NotebookCellTimeoutSeconds"] = "2", ["Warden:Terminal:MaxNotebooks"] = "2",
        });
        using var alice = terminal.For("nb-runaway", chatId: "chat-1");
        var id = await NotebookTests.OpenAsync(alice, "/home/user/loop.ipynb", "y = 5", "while True:\n    pass", "y",
            "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.01)");
        await NotebookTests.ExecuteAsync(alice, id, 0);

        // A busy loop: interrupted after 2 s, the kernel and its variables survive.
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var looped = await NotebookTests.ExecuteAsync(alice, id, 1);
        Assert.InRange(watch.Elapsed.TotalSeconds, 1.5, 15);
        Assert.Equal("error", looped.GetProperty("status").GetString());
        var interrupt = looped.GetProperty("outputs").EnumerateArray().Last();
        Assert.Equal("KeyboardInterrupt", interrupt.GetProperty("ename").GetString());
        Assert.Contains("longer than 2 s", interrupt.GetProperty("evalue").GetString(), StringComparison.Ordinal);
        var kept = await NotebookTests.ExecuteAsync(alice, id, 2);
        Assert.Equal("5", kept.GetProperty("outputs")[0].GetProperty("data").GetProperty("text/plain").GetString());

        // While a cell runs the session is busy and a second cell is refused (409), as open-terminal does.
        var stubborn = alice.PostAsync($"notebooks/{id}/execute", new { cell_index = 3 });
        await Task.Delay(500, TestContext.Current.CancellationToken);
        var (busyStatus, busy) = await alice.GetAsync($"notebooks/{id}");
        Assert.Equal("busy", busy.GetProperty("status").GetString());
        Assert.Equal(200, busyStatus);
        var (conflict, problem) = await alice.PostAsync($"notebooks/{id}/execute", new { cell_index = 2 });
        Assert.Equal(409, conflict);
        Assert.Equal("Cell already executing", problem.GetProperty("detail").GetString());

        // A cell that ignores the interrupt loses its kernel; the next cell starts a new one (no variables, count 1).
        var (status, killed) = await stubborn;
        Assert.Equal(200, status);
        Assert.Equal("error", killed.GetProperty("status").GetString());
        Assert.Equal("CellTimeoutError", killed.GetProperty("outputs").EnumerateArray().Last().GetProperty("ename").GetString());
        var fresh = await NotebookTests.ExecuteAsync(alice, id, 2);
        Assert.Equal("NameError", fresh.GetProperty("outputs")[0].GetProperty("ename").GetString());
        Assert.Equal(1, fresh.GetProperty("execution_count").GetInt32());
        Assert.Equal(1, await NotebookTests.KernelsAsync(alice));

        // Two sessions per user (all chats together): a third is refused with 429 until one is deleted.
        using var other = terminal.For("nb-runaway", chatId: "chat-2");
        var second = await NotebookTests.OpenAsync(other, "/home/user/second.ipynb", "1");
        Assert.Equal(429, (await other.PostAsync("notebooks", new { path = "/home/user/second.ipynb" })).Status);
        Assert.Equal(200, (await other.SendAsync(HttpMethod.Delete, $"notebooks/{second}")).Status);
        var third = await NotebookTests.OpenAsync(other, "/home/user/second.ipynb", "1");
        await other.SendAsync(HttpMethod.Delete, $"notebooks/{third}");
        await alice.SendAsync(HttpMethod.Delete, $"notebooks/{id}");
    }

    [Fact]
    public async Task NoKernelOutlivesTheSandbox_AndTheSessionIsGoneAfterIt()
    {
        await using var terminal = await TerminalTestServer.StartAsync(new() { ["Warden:Terminal:IdleTimeoutSeconds"] = "2" });
        using var alice = terminal.For("nb-reaped", chatId: "chat-1");
        var id = await NotebookTests.OpenAsync(alice, "/home/user/kept.ipynb", "import subprocess\nsubprocess.Popen(['sleep', '300'])\nz = 1");
        await NotebookTests.ExecuteAsync(alice, id, 0);
        var manager = terminal.Server.Services.GetRequiredService<TerminalManager>();
        var instance = terminal.Server.Services.GetRequiredService<Warden.Core.Sandboxing.BackendSelector>().Selected.Status().Instance;
        var uid = terminal.UidOf("nb-reaped");
        List<int> Sandboxed() => TestBackend.Name == "gvisor" ? SandboxReapTests.ProcessesInCgroups(instance) : SandboxReapTests.ProcessesOf(uid);
        Assert.NotEmpty(Sandboxed());

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (manager.RunningCount > 0 && DateTime.UtcNow < deadline) await Task.Delay(250, TestContext.Current.CancellationToken);
        Assert.Equal(0, manager.RunningCount);
        deadline = DateTime.UtcNow.AddSeconds(10);
        while ((Sandboxed().Count > 0 || SandboxReapTests.ProcessesOf(uid).Count > 0) && DateTime.UtcNow < deadline)
            await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.Empty(Sandboxed());
        Assert.Empty(SandboxReapTests.ProcessesOf(uid));

        // The next request starts a new sandbox: the old session is unknown there, and the file keeps its outputs.
        var (status, _) = await alice.GetAsync($"notebooks/{id}");
        Assert.Equal(404, status);
        var (read, file) = await alice.GetAsync("files/read?path=/home/user/kept.ipynb");
        Assert.True(read == 200, $"files/read after the restart returned {read}: {file}");
        Assert.Contains("\"execution_count\": 1", file.GetProperty("content").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task NotebooksSwitchedOff_AreNotServed_AndConfigSaysSo()
    {
        await using (var on = await TerminalTestServer.StartAsync())
        {
            using var client = on.For("nb-config");
            var (_, config) = await client.GetAsync("api/config");
            Assert.True(config.GetProperty("features").GetProperty("notebooks").GetBoolean());
        }
        await using var off = await TerminalTestServer.StartAsync(new() { ["Warden:Terminal:Notebooks"] = "false" });
        using var user = off.For("nb-config");
        var (_, offConfig) = await user.GetAsync("api/config");
        Assert.False(offConfig.GetProperty("features").GetProperty("notebooks").GetBoolean());
        Assert.Equal(404, (await user.PostAsync("notebooks", new { path = "/home/user/x.ipynb" })).Status);
    }
}
