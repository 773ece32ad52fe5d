using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Sandboxing;
using Warden.Server.Tests.OpenTerminal;

namespace Warden.Server.Tests.Backends;

/// <summary>
/// <c>Warden:Backend=auto</c> prefers gVisor; since gVisor runs long-lived sandboxes, that choice no longer turns off
/// the two integrations Open WebUI uses without a plugin: a Jupyter kernel and an Open Terminal command both work.
/// </summary>
public sealed class AutoBackendTests
{
    private const string Key = "auto-backend-tests-key-0123456789";

    [Fact]
    public async Task Auto_OnAHostWithRunsc_PicksGvisor_AndJupyterAndOpenTerminalWork()
    {
        if (!File.Exists("/usr/bin/runsc") && Environment.GetEnvironmentVariable("CI") != "true")
            Assert.Skip("runsc is not installed here (scripts/test.d/gvisor.sh installs it).");
        var ct = TestContext.Current.CancellationToken;
        await using var terminal = await TerminalTestServer.StartAsync(new() { ["Warden:Backend"] = "auto" }, Key);
        var server = terminal.Server;
        Assert.Equal("gvisor", server.Services.GetRequiredService<BackendSelector>().Selected.Name);

        var started = await server.Client.PostAsync("/api/kernels", null, ct);
        Assert.Equal(System.Net.HttpStatusCode.Created, started.StatusCode);
        var id = (await Json.ReadAsync(started)).GetProperty("id").GetString()!;
        await using (var socket = await Cluster.KernelSocket.ConnectAsync(server.Address, id, Key, ct))
        {
            var (stdout, result) = await socket.ExecuteAsync("import os\nprint(os.uname().sysname)\n6 * 7", ct);
            Assert.Equal("Linux\n", stdout);
            Assert.Equal("42", result);
        }
        Assert.True((await server.Client.DeleteAsync($"/api/kernels/{id}", ct)).IsSuccessStatusCode);

        using var user = terminal.For("auto-user", bearer: Key);
        // gVisor's own kernel log, which no bwrap sandbox shows: proof the command ran inside gVisor, not beside it.
        var run = await user.RunAsync("echo from-terminal; dmesg | head -1");
        var output = TerminalClient.Stdout(run);
        Assert.StartsWith("from-terminal\n", output, StringComparison.Ordinal);
        Assert.Contains("gVisor", output, StringComparison.Ordinal);
    }
}
