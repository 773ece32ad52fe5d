using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Warden.Core.Terminals;
using Warden.Server.Auth;

namespace Warden.Server.Tests.Security;

/// <summary>
/// The memory budget is shared by every tenant, and the per-key caps (32 sessions, 16 terminal users by default) are
/// counts, not memory: 16 terminals × 1 GB and 32 sessions × 512 MB each exceed the default budget of a 24 GB host. One
/// stored key can therefore hold the whole budget, and does not even need to run anything: looking a terminal up
/// (<c>GET /terminal/files/cwd</c>, which starts no sandbox) reserves its memory until the idle timeout (15 min). Every
/// other tenant then gets 503 on sessions, kernels and terminals.
/// </summary>
public sealed class MemoryBudgetShareTests
{
    [Fact]
    public async Task OneKey_CannotHoldTheWholeBudget_WithRequestsThatStartNothing()
    {
        await using var terminal = await OpenTerminal.TerminalTestServer.StartAsync(new()
        {
            ["Warden:MemoryBudgetMb"] = "2048", ["Warden:Terminal:MemoryMb"] = "1024", ["Warden:Pool:Enabled"] = "false",
        });
        var ct = TestContext.Current.CancellationToken;
        var store = (ApiKeyStore)terminal.Server.Services.GetService(typeof(ApiKeyStore))!;
        var hog = (await store.CreateAsync("budget-hog", [ApiKeyScopes.Execute], ct)).Key;
        var neighbour = (await store.CreateAsync("budget-neighbour", [ApiKeyScopes.Execute], ct)).Key;

        // Within its caps (16 terminal users): each lookup reserves 1 GB; nothing is started.
        var answers = new List<int>();
        for (int i = 0; i < 3; i++)
        {
            using var user = terminal.For($"hog-{i}", bearer: hog);
            answers.Add((await user.GetAsync("files/cwd")).Status);
        }
        Assert.Equal(0, terminal.Server.Services.GetRequiredService<TerminalManager>().RunningCount);

        using var other = new HttpClient { BaseAddress = terminal.Server.Address, Timeout = TimeSpan.FromSeconds(60) };
        other.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", neighbour);
        var (created, body) = await Json.PostAsync(other, "/api/v1/sessions", new { language = "bash", memory_mb = 64 });
        Assert.True(created.StatusCode == HttpStatusCode.Created,
            $"After another key's {answers.Count} terminal lookups ({string.Join(", ", answers)}), none of which started a sandbox, " +
            $"a 64 MB session of this key answered {(int)created.StatusCode}: {body}");
    }
}
