using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Admission;

namespace Warden.Server.Tests.Security;

/// <summary>
/// A session deleted while its kernel is starting (or restarting) must take that kernel with it. Otherwise the kernel
/// runs on, in no list, under no cap and outside the memory budget (its lease was given back with the session), until
/// the server stops: a tenant that repeats create+delete gets as many sandboxes as it likes.
/// </summary>
public sealed class SessionStartRaceTests
{
    [Fact]
    public async Task NativeSession_DeletedWhileItsKernelStarts_LeavesNoKernelRunning()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:MemoryBudgetMb"] = "4096", ["Warden:Pool:Enabled"] = "false" });
        var ct = TestContext.Current.CancellationToken;
        for (int attempt = 0; attempt < 5; attempt++)
        {
            var create = server.Client.PostAsync("/api/v1/sessions", Json.Body(new { language = "python", memory_mb = 256 }), ct);
            var id = await WaitForStateAsync(server.Client, "/api/v1/sessions", "starting", create, ct);
            if (id is null)
            {
                // The kernel started before we saw it starting: clean up and try again.
                await DeleteAllAsync(server.Client, ct);
                continue;
            }
            Assert.Equal(HttpStatusCode.NoContent, (await server.Client.DeleteAsync($"/api/v1/sessions/{id}", ct)).StatusCode);
            var created = await create;
            await AssertNothingOfTheSessionRunsAsync(server, id, $"the create answered {(int)created.StatusCode} after the delete", ct);
            return;
        }
        Assert.Fail("A python session was never seen in its 'starting' state in 5 attempts; the race could not be set up.");
    }

    [Fact]
    public async Task NativeSession_DeletedWhileItRestarts_LeavesNoKernelRunning()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:MemoryBudgetMb"] = "4096", ["Warden:Pool:Enabled"] = "false" });
        var ct = TestContext.Current.CancellationToken;
        for (int attempt = 0; attempt < 5; attempt++)
        {
            var (created, session) = await Json.PostAsync(server.Client, "/api/v1/sessions", new { language = "python", memory_mb = 256 });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var id = session.GetProperty("id").GetString()!;
            var restart = server.Client.PostAsync($"/api/v1/sessions/{id}/restart", null, ct);
            if (await WaitForStateAsync(server.Client, "/api/v1/sessions", "starting", restart, ct) is null)
            {
                await DeleteAllAsync(server.Client, ct);
                continue;
            }
            Assert.Equal(HttpStatusCode.NoContent, (await server.Client.DeleteAsync($"/api/v1/sessions/{id}", ct)).StatusCode);
            var restarted = await restart;
            await AssertNothingOfTheSessionRunsAsync(server, id, $"the restart answered {(int)restarted.StatusCode} after the delete", ct);
            return;
        }
        Assert.Fail("A restarting python session was never seen starting its new kernel in 5 attempts; the race could not be set up.");
    }

    [Fact]
    public async Task JupyterKernel_DeletedWhileItStarts_LeavesNoKernelRunning()
    {
        await using var server = await WardenTestServer.StartAsync(new() { ["Warden:MemoryBudgetMb"] = "4096", ["Warden:Pool:Enabled"] = "false" });
        var ct = TestContext.Current.CancellationToken;
        for (int attempt = 0; attempt < 5; attempt++)
        {
            var create = server.Client.PostAsync("/api/kernels", new StringContent(""), ct);
            var id = await WaitForStateAsync(server.Client, "/api/kernels", "starting", create, ct, stateProperty: "execution_state");
            if (id is null)
            {
                await DeleteAllAsync(server.Client, ct);
                continue;
            }
            Assert.Equal(HttpStatusCode.NoContent, (await server.Client.DeleteAsync($"/api/kernels/{id}", ct)).StatusCode);
            var created = await create;
            await AssertNothingOfTheSessionRunsAsync(server, id, $"the kernel start answered {(int)created.StatusCode} after the delete", ct);
            return;
        }
        Assert.Fail("A Jupyter kernel was never seen in its 'starting' state in 5 attempts; the race could not be set up.");
    }

    /// <summary>Polls a list until an item is in <paramref name="state"/> (its id) or <paramref name="until"/> completes (null).</summary>
    private static async Task<string?> WaitForStateAsync(HttpClient client, string list, string state, Task until, CancellationToken ct,
        string stateProperty = "state")
    {
        while (!until.IsCompleted)
        {
            var items = JsonDocument.Parse(await client.GetStringAsync(list, ct)).RootElement;
            foreach (var item in items.EnumerateArray())
                if (item.GetProperty(stateProperty).GetString() == state) return item.GetProperty("id").GetString();
        }
        await until;
        return null;
    }

    private static async Task DeleteAllAsync(HttpClient client, CancellationToken ct)
    {
        foreach (var item in JsonDocument.Parse(await client.GetStringAsync("/api/v1/sessions", ct)).RootElement.EnumerateArray())
            await client.DeleteAsync($"/api/v1/sessions/{item.GetProperty("id").GetString()}", ct);
    }

    /// <summary>
    /// After the delete was acknowledged nothing of the session may run, and the budget may promise nothing (a kernel
    /// left running would be invisible to it). Leaked processes are killed before asserting, so a failure leaves none.
    /// </summary>
    private static async Task AssertNothingOfTheSessionRunsAsync(WardenTestServer server, string id, string context, CancellationToken ct)
    {
        await Task.Delay(TimeSpan.FromSeconds(1), ct);
        var leaked = SessionProcesses(id);
        foreach (var pid in leaked)
        {
            try { System.Diagnostics.Process.GetProcessById(pid).Kill(); }
            catch (ArgumentException) { }
            catch (InvalidOperationException) { }
        }
        Assert.Equal("[]", (await server.Client.GetStringAsync("/api/v1/sessions", ct)).Trim());
        Assert.Equal(0, server.Services.GetRequiredService<MemoryBudget>().ReservedBytes);
        Assert.True(leaked.Count == 0,
            $"Session {id} was deleted (204) while its kernel started; {context}, and {leaked.Count} process(es) of it still ran " +
            "(in no list, under no cap, outside the memory budget).");
    }

    /// <summary>Processes whose cgroup names the session (any incarnation of its kernel).</summary>
    private static List<int> SessionProcesses(string sessionId)
    {
        var found = new List<int>();
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "cgroup")).Contains($"session-{sessionId}", StringComparison.Ordinal)) found.Add(pid);
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        return found;
    }
}
